// What the nodemailer ceilings (rawSender.ts, pacedCeiling.ts) share: a confirmation composed as
// the service composes it, and a pooled transport to the sink.
import nodemailer from 'nodemailer';
import { composeMessage } from '../src/platform/mail/compose.js';
import { loadTemplates } from '../src/platform/mail/templates.js';

export async function ceilingMail(smtpUrl: string) {
  const context = {
    publicUrl: 'http://optin.bench',
    mailFrom: 'optin bench <news@example.org>',
    site: { name: 'optin bench', url: undefined, host: 'optin.bench' },
    secrets: ['bench-secret-0123456789abcdef'],
    templates: await loadTemplates(),
  };
  const url = new URL(smtpUrl);
  if (!url.searchParams.has('pool')) url.searchParams.set('pool', 'true');
  return {
    transport: nodemailer.createTransport(url.toString()),
    /** The confirmation of subscription `n` to `to`, as the worker would compose it. */
    confirmation: (id: string, to: string, n: number) =>
      composeMessage(context, {
        outboxId: id,
        kind: 'confirmation',
        to,
        locale: 'en',
        name: null,
        subscriptionId: n,
        listSlug: 'default',
        listName: 'Newsletter',
      }),
  };
}
