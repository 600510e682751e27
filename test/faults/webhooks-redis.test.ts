import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, settle, waitFor } from '../support/http.js';
import { freePort, startRedisServer, type RunningProcess } from '../support/processes.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

let port: number;
let redis: RunningProcess;
beforeAll(async () => {
  port = await freePort();
  redis = await startRedisServer(port);
});
afterAll(async () => {
  redis?.kill('SIGKILL');
  await redis?.exited;
});

const redisUrl = () => `redis://127.0.0.1:${port}`;

async function register(t: TestService, receiver: WebhookReceiver) {
  const res = await postJson(`${t.url}/admin/api/webhook-endpoints`, { url: receiver.url, events: ['contact.suppressed'] }, ADMIN_AUTH);
  expect(res.status).toBe(201);
  const { id, secret } = (await res.json()) as { id: string; secret: string };
  receiver.secret = secret;
  return id;
}

const suppress = (t: TestService, email: string) => postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH);
const deliveriesOf = (t: TestService, endpointId: string) => {
  const { db, tables: { webhookDeliveries } } = t.service.database;
  return db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointId));
};

describe('outbound webhooks when Redis fails', () => {
  it('an event whose change happened while Redis was down arrives once Redis is back', async () => {
    const receiver = await startWebhookReceiver();
    const t = await startTestService({ env: { REDIS_URL: redisUrl(), WEBHOOK_RELAY_INTERVAL_MS: '100' } });
    try {
      const id = await register(t, receiver);
      redis.kill('SIGKILL');
      await redis.exited;
      await waitFor(async () => (await fetch(`${t.url}/readyz`)).status === 503, 5000, 'Redis to be seen as down');

      expect((await suppress(t, 'during-outage@example.com')).status).toBe(201);
      await settle(400);
      expect(receiver.received).toHaveLength(0);
      expect((await deliveriesOf(t, id)).map((row) => row.status)).toEqual(['queued']);

      // Back, empty: the row in webhook_deliveries is what brings the event.
      redis = await startRedisServer(port);
      await waitFor(() => receiver.accepted().length === 1, 15_000, 'the event after Redis is back');
      expect(receiver.accepted()[0]!.data).toEqual({ email: 'during-outage@example.com', reason: 'manual', list: null });
      expect(receiver.received.every((r) => r.verified)).toBe(true);
      await waitFor(async () => (await deliveriesOf(t, id))[0]?.status === 'delivered', 5000, 'the delivery marked delivered');
    } finally {
      if (redis.child.exitCode !== null || redis.child.signalCode !== null) redis = await startRedisServer(port);
      await t.stop();
      await receiver.close();
    }
  });

  it('re-hands a delivery whose job Redis lost while it waited for a retry (FLUSHALL)', async () => {
    let down = true;
    const receiver = await startWebhookReceiver(() => (down ? 500 : 200));
    // A minute's backoff: only the relay's re-hand can bring the lost job back in time.
    const t = await startTestService({ env: { REDIS_URL: redisUrl(), WEBHOOK_BACKOFF_MS: '60000', WEBHOOK_RELAY_INTERVAL_MS: '100', OUTBOX_REHAND_MS: '1000' } });
    const client = new Redis(redisUrl());
    try {
      const id = await register(t, receiver);
      expect((await suppress(t, 'flushed@example.com')).status).toBe(201);
      await waitFor(async () => (await deliveriesOf(t, id))[0]?.attempts === 1, 5000, 'a first attempt');
      down = false;
      await client.flushall();
      await waitFor(() => receiver.accepted().length === 1, 10_000, 'the event after the flush');
      await waitFor(async () => (await deliveriesOf(t, id))[0]?.status === 'delivered', 5000, 'the delivery marked delivered');
      expect(new Set(receiver.received.map((r) => r.id)).size).toBe(1);
      expect(receiver.received.map((r) => r.status)).toEqual([500, 200]);
    } finally {
      client.disconnect();
      await t.stop();
      await receiver.close();
    }
  });
});
