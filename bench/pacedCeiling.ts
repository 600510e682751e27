// The ceiling of a paced run: one process doing the least a signup and its confirmation need,
// express parsing the JSON body and answering 202, then pooled nodemailer sending a confirmation
// composed for it, as the worker does. At a quiet rate every operation wakes the process up on its own; this
// shows what that costs on the machine without anything of ours in between.
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ceilingMail } from './ceilingMail.js';
import { onStopMessage } from './child.js';

const [smtpUrl = ''] = process.argv.slice(2);
const { transport, confirmation } = await ceilingMail(smtpUrl);
const ACCEPTED = { status: 'accepted', message: 'If this address can receive mail from us, a confirmation email is on its way.' };

let sent = 0;
const app = express();
app.disable('x-powered-by');
app.post('/subscribe', express.json(), (req, res) => {
  res.status(202).json(ACCEPTED);
  const to = String((req.body as { email?: unknown }).email);
  sent += 1;
  transport
    .sendMail(confirmation(`ceiling-${sent}`, to, sent))
    .catch((error: Error) => console.error(`ceiling send failed: ${error.message}`));
});
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send!({ type: 'ready', url: `http://127.0.0.1:${port}` });
});
onStopMessage(async () => {
  transport.close();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
});
