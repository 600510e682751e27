import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export interface ReceivedMail {
  envelopeTo: string[];
  /** MAIL FROM: the return path bounces go to. */
  envelopeFrom: string | null;
  raw: string;
  parsed: ParsedMail;
  /** Header lines as received, lower-cased names. */
  header(name: string): string | undefined;
}

/** Lets a test make the server refuse: return an error message and SMTP code, or nothing to accept. */
export type SmtpVerdict = { code: number; message: string } | undefined;

export interface SmtpSinkOptions {
  /** Require AUTH with these credentials (the sink's url carries them); a wrong login gets 535. */
  login?: { user: string; pass: string };
  /** With `login`: a verdict on a login, asked before the credentials are checked (e.g. to refuse even the right one). */
  onAuth?: (username: string) => SmtpVerdict;
  onMailFrom?: (address: string) => SmtpVerdict;
  onRcpt?: (address: string) => SmtpVerdict;
  onData?: (mail: { envelopeTo: string[] }) => SmtpVerdict;
  /** Wait this long before answering DATA, so sends are still in flight when a test interrupts them. */
  dataDelayMs?: number;
  /** Listen on this port (e.g. to bring a server back where a stopped one was); default: any free port. */
  port?: number;
}

export interface SmtpSink {
  url: string;
  port: number;
  messages: ReceivedMail[];
  to(address: string): ReceivedMail[];
  close(): Promise<void>;
}

function smtpError(verdict: NonNullable<SmtpVerdict>): Error {
  return Object.assign(new Error(verdict.message), { responseCode: verdict.code });
}

/** A real SMTP server in the test process; every accepted message is parsed and kept. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const { login } = options;
  const server = new SMTPServer({
    authOptional: !login,
    // Tests speak plain SMTP on localhost; a real relay would want TLS before AUTH.
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    disabledCommands: ['STARTTLS'],
    // A verdict's message is the whole answer text, enhanced status code included (as a test writes it).
    hideENHANCEDSTATUSCODES: true,
    logger: false,
    onAuth(auth, _session, callback) {
      const verdict =
        options.onAuth?.(auth.username ?? '') ??
        (login && auth.username === login.user && auth.password === login.pass
          ? undefined
          : { code: 535, message: '5.7.8 Authentication credentials invalid' });
      if (verdict) callback(smtpError(verdict));
      else callback(null, { user: auth.username });
    },
    onMailFrom(address: SMTPServerAddress, _session, callback) {
      const verdict = options.onMailFrom?.(address.address);
      callback(verdict ? smtpError(verdict) : undefined);
    },
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const verdict = options.onRcpt?.(address.address);
      callback(verdict ? smtpError(verdict) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const envelopeTo = session.envelope.rcptTo.map((r) => r.address);
        const verdict = options.onData?.({ envelopeTo });
        if (verdict) {
          callback(smtpError(verdict));
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const delay = new Promise((resolve) => setTimeout(resolve, options.dataDelayMs ?? 0));
        Promise.all([simpleParser(raw), delay]).then(
          ([parsed]) => {
            messages.push({
              envelopeTo,
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
              raw,
              parsed,
              header: (name) => headerValue(raw, name),
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  // A client killed mid-session (fault tests) resets its connection; that is not the sink's failure.
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.server.address() as AddressInfo).port;
  const credentials = login ? `${encodeURIComponent(login.user)}:${encodeURIComponent(login.pass)}@` : '';
  return {
    url: `smtp://${credentials}127.0.0.1:${port}`,
    port,
    messages,
    to: (address) => messages.filter((m) => m.envelopeTo.some((to) => to.toLowerCase() === address.toLowerCase())),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The unfolded value of a header in the raw message head. */
function headerValue(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const line = unfolded.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}
