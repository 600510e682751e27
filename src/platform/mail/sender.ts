import { domainToASCII } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';

/** The address of MAIL_FROM ("Name <news@example.com>" or a bare address); undefined if it holds none. */
export function senderAddress(mailFrom: string): string | undefined {
  const parsed = addressparser(mailFrom, { flatten: true });
  if (parsed.length !== 1) return undefined;
  const address = parsed[0]!.address;
  const at = address.lastIndexOf('@');
  return at > 0 && at < address.length - 1 ? address : undefined;
}

/** The lower-cased ASCII domain of MAIL_FROM: what DKIM and DMARC must align with. */
export function senderDomain(mailFrom: string): string | undefined {
  const address = senderAddress(mailFrom);
  if (!address) return undefined;
  return domainToASCII(address.slice(address.lastIndexOf('@') + 1).toLowerCase()) || undefined;
}

/** True for the domain itself or one of its parents: relaxed DKIM/DMARC alignment. */
export function isSameOrParentDomain(domain: string, candidate: string): boolean {
  return domain === candidate || domain.endsWith(`.${candidate}`);
}

/**
 * MAIL_FROM with `name` as its display name when it has none of its own: a name the operator
 * wrote in MAIL_FROM is kept, since it was chosen for this sender on purpose.
 */
export function withDisplayName(mailFrom: string, name: string): string {
  const parsed = addressparser(mailFrom, { flatten: true })[0];
  if (!parsed || parsed.name.trim() !== '') return mailFrom;
  // Words of letters and digits need no quotes; anything else (",", ".", quotes) is quoted.
  const phrase = /^[A-Za-z0-9]+(?: [A-Za-z0-9]+)*$/.test(name) ? name : `"${name.replace(/["\\]/g, '\\$&')}"`;
  return `${phrase} <${parsed.address}>`;
}
