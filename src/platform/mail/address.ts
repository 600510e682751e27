import { domainToASCII } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';
import validator from 'validator';

export interface CanonicalAddress {
  /** As typed, trimmed, with the domain lower-cased and in ASCII (punycode) form. */
  email: string;
  /** The identity used for every comparison: the canonical address, lower-cased. */
  emailKey: string;
  /** Lower-cased ASCII domain. */
  domain: string;
}

export type AddressResult = { ok: true; address: CanonicalAddress } | { ok: false; message: string };

// RFC 5321 limits: 64 octets before the @, 254 in all (a 256-octet path minus the angle brackets).
const MAX_LOCAL_OCTETS = 64;
const MAX_ADDRESS_OCTETS = 254;

/**
 * The only local part we accept: an RFC 5322 dot-atom of ASCII atext. A quoted-string
 * ("ann", " ann", "a\nn") is the same mailbox as its unquoted reading once a mail library
 * builds RCPT TO, so accepting it would give one mailbox several keys: the suppression list,
 * the per-address limits and erasure would each see a different address from the one mailed.
 */
const DOT_ATOM_LOCAL_PART = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;

/**
 * Turns what a person typed into the canonical address, or says why it is not one. Every
 * string that becomes an identity (signup, import, admin entry, lookup, erasure, webhook)
 * goes through here, so one mailbox has one key. The local part must be a plain dot-atom
 * (no quotes, backslashes or spaces), which is the exact string SMTP will carry; the rest of
 * the syntax is checked by validator.js on the ASCII form, so internationalised domains are
 * accepted once converted to punycode, and nothing that could break a mail header
 * (CR, LF, NUL, angle brackets, commas) gets through.
 */
export function parseAddress(input: string): AddressResult {
  const typed = input.trim();
  if (typed === '') return { ok: false, message: 'An email address is required.' };
  // Control characters would let a value smuggle extra headers into a message.
  if (/[\u0000-\u001f\u007f]/.test(typed)) return { ok: false, message: 'The address contains control characters.' };
  const at = typed.lastIndexOf('@');
  if (at <= 0 || at === typed.length - 1) return { ok: false, message: 'The address needs a name, an "@" and a domain.' };
  const local = typed.slice(0, at);
  if (local.startsWith('"')) {
    return { ok: false, message: 'Quoted addresses ("…"@…) are not accepted: type the address without quotes.' };
  }
  if (!DOT_ATOM_LOCAL_PART.test(local)) return { ok: false, message: 'This is not a valid email address.' };
  const asciiDomain = domainToASCII(typed.slice(at + 1).toLowerCase());
  if (asciiDomain === '') return { ok: false, message: 'The domain of the address is not valid.' };
  const email = `${local}@${asciiDomain}`;
  if (Buffer.byteLength(local) > MAX_LOCAL_OCTETS) {
    return { ok: false, message: `The part before the "@" is longer than ${MAX_LOCAL_OCTETS} characters.` };
  }
  if (Buffer.byteLength(email) > MAX_ADDRESS_OCTETS) {
    return { ok: false, message: `The address is longer than ${MAX_ADDRESS_OCTETS} characters.` };
  }
  const valid = validator.isEmail(email, {
    allow_display_name: false,
    allow_utf8_local_part: false,
    require_tld: true,
    allow_ip_domain: false,
    allow_underscores: false,
  });
  if (!valid) return { ok: false, message: 'This is not a valid email address.' };
  return { ok: true, address: { email, emailKey: email.toLowerCase(), domain: asciiDomain } };
}

/**
 * An address as a mail provider reports it: bare, or with a display name
 * (`Kim Doe <kim@example.com>`). nodemailer's address parser, the one that read our own
 * recipients, finds the one mailbox in it; that mailbox then goes through parseAddress, so a
 * report gets the same key as the signup it is about. Several addresses, or none, is an error.
 */
export function parseReportedAddress(input: string): AddressResult {
  if (/[\u0000-\u001f\u007f]/.test(input)) return { ok: false, message: 'The address contains control characters.' };
  const found = addressparser(input);
  const only = found.length === 1 && 'address' in found[0]! ? found[0].address : '';
  if (!only) return { ok: false, message: 'The value is not one email address.' };
  return parseAddress(only);
}

/** The domain of an address already in canonical form (what follows the last "@"). */
export function domainOf(emailKey: string): string {
  return emailKey.slice(emailKey.lastIndexOf('@') + 1);
}
