import addressparser from 'nodemailer/lib/addressparser';
import { senderAddress, withDisplayName } from '../../platform/mail/sender.js';

/**
 * The From of a list's mail: its own name and address where it has them, the site's (MAIL_FROM)
 * for what it lacks; undefined when the list has neither, so the site's From is used as it is.
 * Only the header From changes: the envelope sender and the DKIM signature stay the site's, and
 * the lists domain accepts a list address only on the site's sending domain (or a subdomain),
 * so DMARC alignment holds.
 */
export function listSender(list: { fromName: string | null; fromEmail: string | null }, siteMailFrom: string): string | undefined {
  if (list.fromName === null && list.fromEmail === null) return undefined;
  const address = list.fromEmail ?? senderAddress(siteMailFrom);
  if (address === undefined) return undefined;
  const name = list.fromName ?? addressparser(siteMailFrom, { flatten: true })[0]?.name.trim() ?? '';
  return name === '' ? address : withDisplayName(address, name);
}
