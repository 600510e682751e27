// The delivery ceiling: plain pooled nodemailer sending prebuilt confirmation messages to the sink.
import { ceilingMail } from './ceilingMail.js';
import { onStopMessage } from './child.js';
import { clock } from './stats.js';

const [smtpUrl = '', countText = '2000', prefix = 'raw'] = process.argv.slice(2);
const count = Number(countText);
const { transport, confirmation } = await ceilingMail(smtpUrl);
// Built before the clock starts: this measures sending only.
const messages = Array.from({ length: count }, (_, i) => confirmation(`${prefix}-${i}`, `${prefix}-${i}@example.com`, i + 1));

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
