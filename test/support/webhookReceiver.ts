import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One POST that reached the receiver, with its signature checked by the standardwebhooks package. */
export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  body: string;
  json: { type: string; timestamp: string; data: Record<string, unknown> };
  /** What the receiver answered. */
  status: number;
  /** Whether Webhook.verify accepted it with the endpoint's secret. */
  verified: boolean;
  /** How many times this webhook-id had arrived before (0 the first time). */
  seenBefore: number;
  /** When the request had arrived whole, and when it was answered (performance.now()). */
  arrivedAt: number;
  answeredAt: number;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** The secret POST /admin/api/webhook-endpoints answered; every request is verified with it. */
  secret: string;
  /** The bodies answered 2xx, one per webhook-id: what a receiver that drops repeats keeps. */
  accepted(): ReceivedWebhook['json'][];
  close(): Promise<void>;
}

/**
 * A receiver in the test process: verifies every request with `Webhook.verify` and answers what
 * `answer` says (by default 200); `answer` is told how many times the id came before. With
 * `delayMs`, each answer waits that long (so requests sent side by side overlap).
 */
export async function startWebhookReceiver(
  answer: (request: { id: string; seenBefore: number; json: ReceivedWebhook['json'] }) => number = () => 200,
  options: { delayMs?: number } = {},
): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    received,
    secret: '',
    accepted() {
      const ids = new Set<string>();
      return received.filter((r) => r.status >= 200 && r.status < 300 && r.verified && !ids.has(r.id) && ids.add(r.id)).map((r) => r.json);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const arrivedAt = performance.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      };
      let verified = false;
      try {
        new Webhook(receiver.secret).verify(body, headers);
        verified = true;
      } catch {
        verified = false;
      }
      const json = JSON.parse(body) as ReceivedWebhook['json'];
      const seenBefore = received.filter((r) => r.id === headers['webhook-id']).length;
      const status = verified ? answer({ id: headers['webhook-id'], seenBefore, json }) : 401;
      const record: ReceivedWebhook = {
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        body,
        json,
        status,
        verified,
        seenBefore,
        arrivedAt,
        answeredAt: arrivedAt,
      };
      received.push(record);
      const reply = () => {
        record.answeredAt = performance.now();
        res.writeHead(status).end();
      };
      if (options.delayMs) setTimeout(reply, options.delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}
