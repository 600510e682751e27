import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON lines to stdout, or to `destination` (a test reading what the service logs). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

/** Logs must not become a second copy of the contact list: keep the first character and the domain. */
export function maskEmail(email: string, hidden = '***'): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return hidden;
  // The first character whole, even outside the BMP (a surrogate pair).
  return `${String.fromCodePoint(email.codePointAt(0)!)}${hidden}${email.slice(at)}`;
}
