// The delivery ceiling: plain pooled nodemailer sending prebuilt confirmation messages to the sink.
import nodemailer from 'nodemailer';
import { composeMessage } from '../src/platform/mail/compose.js';
import { loadTemplates } from '../src/platform/mail/templates.js';
import { onStopMessage } from './child.js';
import { clock } from './stats.js';

const [smtpUrl = '', countText = '2000', prefix = 'raw'] = process.argv.slice(2);
const count = Number(countText);
const templates = await loadTemplates();
const context = {
  publicUrl: 'http://optin.bench',
  mailFrom: 'optin bench <news@example.org>',
  site: { name: 'optin bench', url: undefined, host: 'optin.bench' },
  secrets: ['bench-secret-0123456789abcdef'],
  templates,
};
// Built before the clock starts: this measures sending only.
const messages = Array.from({ length: count }, (_, i) =>
  composeMessage(context, {
    outboxId: `${prefix}-${i}`,
    kind: 'confirmation',
    to: `${prefix}-${i}@example.com`,
    locale: 'en',
    name: null,
    subscriptionId: i + 1,
    listSlug: 'default',
    listName: 'Newsletter',
  }),
);
const url = new URL(smtpUrl);
if (!url.searchParams.has('pool')) url.searchParams.set('pool', 'true');
const transport = nodemailer.createTransport(url.toString());

process.on('message', (message: { type?: string }) => {
  if (message?.type !== 'go') return;
  const start = clock();
  Promise.all(messages.map((m) => transport.sendMail(m))).then(
    () => process.send!({ type: 'done', start, end: clock() }),
    (error: Error) => process.send!({ type: 'error', message: error.message }),
  );
});
onStopMessage(async () => transport.close());
process.send!({ type: 'ready' });
