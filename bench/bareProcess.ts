// The ceiling: a bare express endpoint that parses the JSON body (as every signup needs) and answers 202
// with the same JSON, doing nothing else.
import type { AddressInfo } from 'node:net';
import express from 'express';
import { onStopMessage } from './child.js';

const ACCEPTED = { status: 'accepted', message: 'If this address can receive mail from us, a confirmation email is on its way.' };

const app = express();
app.disable('x-powered-by');
app.post('/subscribe', express.json(), (_req, res) => {
  res.status(202).json(ACCEPTED);
});
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send!({ type: 'ready', url: `http://127.0.0.1:${port}` });
});
onStopMessage(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);
