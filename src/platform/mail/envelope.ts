import MimeNode from 'nodemailer/lib/mime-node';
import { parseAddress } from './address.js';

/**
 * The RCPT TO addresses nodemailer derives from an envelope recipient. It unquotes, unescapes
 * and trims local parts, so they can differ from the string it was given; this asks nodemailer's
 * own MimeNode, the code that builds the envelope of a real send.
 */
export function smtpRecipientsOf(to: string): string[] {
  return new MimeNode().setEnvelope({ to }).getEnvelope().to;
}

/**
 * Whether a message to this stored contact would reach SMTP as exactly the address the mail
 * policy decided on: the stored address is still one the address parse accepts, under the same
 * key, and nodemailer carries it unchanged into RCPT TO. When not, the message must not be sent.
 */
export function receivesExactly(contact: { email: string; emailKey: string }): boolean {
  const parsed = parseAddress(contact.email);
  if (!parsed.ok || parsed.address.email !== contact.email || parsed.address.emailKey !== contact.emailKey) return false;
  const recipients = smtpRecipientsOf(contact.email);
  return recipients.length === 1 && recipients[0] === contact.email;
}
