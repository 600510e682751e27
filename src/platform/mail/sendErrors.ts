/**
 * Why a message could not be handed to the SMTP server, and whose fault that is. The worker acts
 * on the class alone: only a RecipientRefusedError suppresses anyone.
 */
export abstract class SendError extends Error {
  /** The SMTP command that was answered ("AUTH PLAIN", "MAIL FROM", "RCPT TO", "DATA", "CONN", …), if known. */
  readonly command: string | undefined;
  readonly responseCode: number | undefined;

  constructor(message: string, details: { command?: string | undefined; responseCode?: number | undefined }) {
    super(message);
    this.name = new.target.name;
    this.command = details.command;
    this.responseCode = details.responseCode;
  }
}

/** The server refused this recipient for good (5xx to RCPT TO, or to DATA for our one recipient): suppress it as bounced. */
export class RecipientRefusedError extends SendError {}

/** Worth another try within SEND_ATTEMPTS: a 4xx to RCPT TO or DATA, or a failure nothing more is known about. */
export class TemporarySendError extends SendError {}

/**
 * What is wrong with the operator's setup, not with the recipient: `auth` (the login), `sender`
 * (MAIL FROM, or the sender domain's SPF/DKIM/DMARC), `relay` (the server will not relay for us),
 * `connection` (cannot reach or talk to the server), `tls`.
 */
export const SENDER_FAULT_KINDS = ['auth', 'sender', 'relay', 'connection', 'tls'] as const;
export type SenderFaultKind = (typeof SENDER_FAULT_KINDS)[number];

/** The operator's SMTP setup is at fault: the message waits and is retried, without limit, until it is fixed. */
export class SenderSetupError extends SendError {
  constructor(
    message: string,
    readonly kind: SenderFaultKind,
    details: { command?: string | undefined; responseCode?: number | undefined },
  ) {
    super(message, details);
  }
}

/** The fields nodemailer's SMTP connection puts on its errors (see nodemailer's smtp-connection). */
interface SmtpFailure {
  message?: string;
  /** nodemailer's error code: EAUTH, EENVELOPE, EMESSAGE, ECONNECTION, ETIMEDOUT, ESOCKET, EDNS, ETLS, EPROTOCOL, … */
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number;
}

const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'EPROXY',
  'EPROTOCOL',
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);
const TLS_CODES = new Set(['ETLS', 'EREQUIRETLS']);

/**
 * Answers to RCPT TO or DATA that, although they come with a recipient, name the sender's own
 * setup. RFC 3463 / IANA enhanced status codes first, then the wording relays use for relaying.
 */
const SENDER_ENHANCED_CODES: Record<string, SenderFaultKind> = {
  '7.8': 'auth', // authentication credentials invalid
  '7.9': 'auth', // authentication mechanism too weak
  '7.11': 'auth', // encryption required for the authentication mechanism
  '7.12': 'auth', // a password transition is needed
  '7.57': 'auth', // Microsoft: client not authenticated to send mail
  '1.7': 'sender', // bad sender's mailbox address syntax
  '1.8': 'sender', // bad sender's system address
  '7.20': 'sender', // no passing DKIM signature
  '7.21': 'sender', // no acceptable DKIM signature
  '7.22': 'sender', // no valid author-matched DKIM signature
  '7.23': 'sender', // SPF validation failed
  '7.24': 'sender', // SPF validation error
  '7.25': 'sender', // reverse DNS validation failed
  '7.26': 'sender', // multiple authentication checks failed (DMARC)
  '7.27': 'sender', // sender address has null MX
  '7.54': 'relay', // Microsoft: unable to relay
  '7.64': 'relay', // Microsoft: relay access denied
};
/** RFC 4954's answers about authentication, whatever command they come to. */
const AUTH_REPLY_CODES = new Set([530, 534, 535, 538]);
const RELAY_WORDING = /\brelay(?:ing)?\b[^.]*\b(?:denied|not permitted|not allowed|prohibited|refused)\b|\bunable to relay\b/i;

function senderFaultInRecipientAnswer(response: string, responseCode: number | undefined): SenderFaultKind | undefined {
  if (responseCode !== undefined && AUTH_REPLY_CODES.has(responseCode)) return 'auth';
  const enhanced = /^\d{3}[ -][245]\.(\d{1,3}\.\d{1,3})(?=\s|$)/.exec(response)?.[1];
  if (enhanced !== undefined && SENDER_ENHANCED_CODES[enhanced]) return SENDER_ENHANCED_CODES[enhanced];
  return RELAY_WORDING.test(response) ? 'relay' : undefined;
}

/**
 * Decides whose fault a failed send is, by the SMTP command that was answered (nodemailer sets
 * `command` on every error it raises), not by the code number alone: a 5xx to AUTH or MAIL FROM
 * says nothing about the recipient.
 */
export function classifySmtpFailure(error: unknown): SendError {
  if (error instanceof SendError) return error;
  const failure = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as SmtpFailure;
  const message = failure.message ?? 'SMTP send failed';
  const details = { command: failure.command, responseCode: failure.responseCode };
  const command = (failure.command ?? '').toUpperCase();
  const code = failure.code ?? '';

  if (command.startsWith('AUTH') || code === 'EAUTH') return new SenderSetupError(message, 'auth', details);
  if (command === 'MAIL FROM') return new SenderSetupError(message, 'sender', details);
  if (command === 'STARTTLS' || TLS_CODES.has(code)) return new SenderSetupError(message, 'tls', details);
  if (command === 'RCPT TO' || command === 'DATA') {
    const kind = senderFaultInRecipientAnswer(failure.response ?? '', failure.responseCode);
    if (kind) return new SenderSetupError(message, kind, details);
    const permanent = failure.responseCode !== undefined && failure.responseCode >= 500 && failure.responseCode < 600;
    return permanent ? new RecipientRefusedError(failure.response ?? message, details) : new TemporarySendError(message, details);
  }
  // The greeting, EHLO/HELO, a dropped or timed-out connection: the server could not be talked to.
  if (['CONN', 'EHLO', 'HELO', 'LHLO', 'RSET'].includes(command) || CONNECTION_CODES.has(code))
    return new SenderSetupError(message, 'connection', details);
  return new TemporarySendError(message, details);
}
