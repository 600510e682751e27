import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Logger } from '../../logger.js';
import type { DkimConfig } from './dkim.js';
import { signOutgoingMail } from './dkimSign.js';
import { classifySmtpFailure } from './sendErrors.js';

export interface OutgoingMessage {
  from: string;
  /** Reply-To, when replies should go elsewhere than From. */
  replyTo?: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
  /** Set explicitly, so RCPT TO is the address the message was decided for, not a re-reading of the To header. */
  envelope: { from: string; to: string[] };
}

export interface Mailer {
  /** "smtp" delivers; "file" writes .eml files for a newcomer without an SMTP server. */
  readonly kind: 'smtp' | 'file';
  /** Fails with a SendError (see sendErrors.ts) that says whose fault the failure is. */
  send(message: OutgoingMessage): Promise<void>;
  close(): void;
}

/** With `dkim`, every message is signed as it leaves, whichever of the two ways it goes. */
export function createMailer(smtpUrl: string | undefined, mailDropFolder: string, logger: Logger, dkim?: DkimConfig): Mailer {
  return smtpUrl ? smtpMailer(smtpUrl, dkim) : fileMailer(mailDropFolder, logger, dkim);
}

const SMTP_TIMEOUTS_MS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 60_000 };

function smtpMailer(smtpUrl: string, dkim: DkimConfig | undefined): Mailer {
  const url = new URL(smtpUrl);
  // A pool keeps SMTP connections open between messages; opening one per message is the slow part.
  if (!url.searchParams.has('pool')) url.searchParams.set('pool', 'true');
  // nodemailer waits up to 10 minutes on a silent server by default; a hung send would hold its
  // job (and a graceful shutdown) that long. Failing sooner turns it into an ordinary retry.
  for (const [option, ms] of Object.entries(SMTP_TIMEOUTS_MS)) if (!url.searchParams.has(option)) url.searchParams.set(option, String(ms));
  const transport = signOutgoingMail(nodemailer.createTransport(url.toString()), dkim);
  return {
    kind: 'smtp',
    async send(message) {
      try {
        await transport.sendMail({ ...message, disableFileAccess: true, disableUrlAccess: true });
      } catch (error) {
        // Whose fault it is decides what happens next: see sendErrors.ts.
        throw classifySmtpFailure(error);
      }
    },
    close: () => transport.close(),
  };
}

function fileMailer(folder: string, logger: Logger, dkim: DkimConfig | undefined): Mailer {
  const transport = signOutgoingMail(nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }), dkim);
  return {
    kind: 'file',
    async send(message) {
      const info = await transport.sendMail({ ...message, disableFileAccess: true, disableUrlAccess: true });
      await mkdir(folder, { recursive: true });
      const file = path.join(folder, `${Date.now()}-${message.messageId.replace(/[^A-Za-z0-9.-]/g, '')}.eml`);
      // Written aside and renamed, so whoever watches the folder never reads half a message.
      await writeFile(`${file}.part`, info.message as Buffer);
      await rename(`${file}.part`, file);
      const links = message.text.match(/https?:\/\/\S+\/(?:confirm|unsubscribe)\?token=\S+/g) ?? [];
      logger.info({ file, subject: message.subject, links }, 'no SMTP_URL: mail written to a file');
    },
    close: () => transport.close(),
  };
}
