import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxRowOf as outboxRowOfDb } from '../support/outbox.js';
import { canary } from '../support/canary.js';
import { postJson, waitFor } from '../support/http.js';
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
/** How long a stop may take while Redis is down before it counts as hung (SIGTERM's own deadline is 10 s). */
const STOP_DEADLINE_MS = 5000;
const outboxRowOf = (t: TestService, emailKey: string) => outboxRowOfDb(t.service.database, emailKey);
/** The outbox row of an address once it has reached `status`. */
const rowOnceIn = (t: TestService, emailKey: string, status: string, what: string) =>
  waitFor(
    async () => {
      const row = await outboxRowOf(t, emailKey);
      return row?.status === status ? row : undefined;
    },
    5000,
    what,
  );

describe('Redis faults', () => {
  it('keeps accepting signups while Redis is down and mails them once it is back', async () => {
    let refusing = true;
    const t = await startTestService({
      smtp: {
        onRcpt: (address) => (refusing && address === 'in-queue@example.com' ? { code: 451, message: '4.3.0 Try again later' } : undefined),
      },
      // Default OUTBOX_REHAND_MS (30 s): only the sweep on reconnect can bring the lost job back in time.
      env: { REDIS_URL: redisUrl(), SEND_BACKOFF_MS: '60000' },
    });
    try {
      await postJson(`${t.url}/subscribe`, { email: 'before@example.com' });
      await postJson(`${t.url}/subscribe`, { email: 'in-queue@example.com' });
      await waitFor(() => t.smtp.to('before@example.com')[0], 5000, 'mail while Redis is up');
      await waitFor(async () => (await t.service.queue.queue.getDelayedCount()) === 1, 5000, 'a job waiting for its retry');
      refusing = false;

      redis.kill('SIGKILL');
      await redis.exited;
      const notReady = await waitFor(
        async () => {
          const res = await fetch(`${t.url}/readyz`);
          return res.status === 503 ? res : undefined;
        },
        5000,
        '/readyz to fail',
      );
      expect(await notReady.json()).toEqual({ status: 'unavailable', checks: { database: true, redis: false } });

      const during = await Promise.all(
        ['down1@example.com', 'down2@example.com'].map((email) => postJson(`${t.url}/subscribe`, { email })),
      );
      expect(during.map((res) => res.status)).toEqual([202, 202]);
      expect((await fetch(`${t.url}/metrics`)).status).toBe(200);
      expect((await outboxRowOf(t, 'down1@example.com'))?.status).toBe('queued');

      // Back, empty: whatever the queue held is gone, the outbox still has it.
      redis = await startRedisServer(port);
      for (const email of ['down1@example.com', 'down2@example.com', 'in-queue@example.com']) {
        await waitFor(() => t.smtp.to(email)[0], 15_000, `mail to ${email} after Redis is back`);
      }
      await waitFor(async () => (await fetch(`${t.url}/readyz`)).status === 200, 5000, '/readyz to pass again');
      await canary(t);
      for (const email of ['before@example.com', 'in-queue@example.com', 'down1@example.com', 'down2@example.com'])
        expect(t.smtp.to(email)).toHaveLength(1);
    } finally {
      await t.stop();
    }
  });

  it('re-hands messages whose jobs Redis lost (FLUSHALL while they wait for a retry)', async () => {
    let refusing = true;
    const t = await startTestService({
      smtp: { onRcpt: () => (refusing ? { code: 451, message: '4.3.0 Try again later' } : undefined) },
      env: { REDIS_URL: redisUrl(), SEND_BACKOFF_MS: '60000', OUTBOX_REHAND_MS: '1000' },
    });
    const client = new Redis(redisUrl());
    try {
      const emails = ['lost1@example.com', 'lost2@example.com', 'lost3@example.com'];
      await Promise.all(emails.map((email) => postJson(`${t.url}/subscribe`, { email })));
      // Each job has failed once and now waits a minute in the delayed set.
      await waitFor(
        async () => (await Promise.all(emails.map((email) => outboxRowOf(t, email)))).every((row) => row?.attempts === 1),
        5000,
        'first attempts',
      );
      await waitFor(async () => (await t.service.queue.queue.getDelayedCount()) === 3, 5000, 'three delayed jobs');
      refusing = false;
      await client.flushall();
      for (const email of emails) await waitFor(() => t.smtp.to(email)[0], 10_000, `mail to ${email} after the flush`);
      await canary(t);
      for (const email of emails) {
        expect(t.smtp.to(email)).toHaveLength(1);
        expect((await outboxRowOf(t, email))?.status).toBe('sent');
      }
    } finally {
      client.disconnect();
      await t.stop();
    }
  });

  it('marks a row failed whose job failed for good while the process died before marking it', async () => {
    let rcptCalls = 0;
    const t = await startTestService({
      smtp: { onRcpt: () => (rcptCalls++, { code: 451, message: '4.3.0 Try again later' }) },
      env: { REDIS_URL: redisUrl(), SEND_ATTEMPTS: '1', OUTBOX_REHAND_MS: '1000' },
    });
    try {
      await postJson(`${t.url}/subscribe`, { email: 'crash-between@example.com' });
      const failed = await rowOnceIn(t, 'crash-between@example.com', 'failed', 'the row to fail');
      // As if the process had died between the job's last failure and the mark.
      const requeued = await t.service.database.transaction(
        async ({ db, tables: { outbox } }) =>
          await db
            .update(outbox)
            .set({ status: 'queued', lastError: null, handedAt: Date.now() - 60_000 })
            .where(eq(outbox.id, failed.id))
            .returning({ id: outbox.id }),
      );
      expect(requeued).toHaveLength(1);
      const marked = await rowOnceIn(t, 'crash-between@example.com', 'failed', 'the relay to mark the row failed');
      expect(marked.lastError).toMatch(/gave up after 1 attempts/);
      // No canary: this server refuses (and counts) every recipient. With the row decided and no
      // job left to run, nothing can reach RCPT again.
      await waitFor(
        async () =>
          Object.values(await t.service.queue.queue.getJobCounts('wait', 'active', 'delayed', 'prioritized')).every((n) => n === 0),
        5000,
        'the mail queue to be empty',
      );
      expect(rcptCalls).toBe(1);
    } finally {
      await t.stop();
    }
  });

  it('the queue dashboard answers 503 queue_unavailable while Redis is down, and works again once it is back', async () => {
    const t = await startTestService({ env: { REDIS_URL: redisUrl() } });
    const dashboardApi = () =>
      fetch(`${t.url}/admin/queues/api/queues?page=1&jobsPerPage=10`, { headers: { ...ADMIN_AUTH, accept: 'application/json' } });
    try {
      expect((await dashboardApi()).status).toBe(200);
      redis.kill('SIGKILL');
      await redis.exited;
      await waitFor(async () => (await fetch(`${t.url}/readyz`)).status === 503, 5000, 'Redis to be seen as down');
      const down = await dashboardApi();
      expect(down.status).toBe(503);
      expect(down.headers.get('cache-control')).toBe('no-store');
      expect(await down.json()).toEqual({ error: { code: 'queue_unavailable', message: expect.stringMatching(/Redis/) } });

      redis = await startRedisServer(port);
      await waitFor(async () => (await dashboardApi()).status === 200, 5000, 'the dashboard to answer again');
    } finally {
      if (redis.child.exitCode !== null || redis.child.signalCode !== null) redis = await startRedisServer(port);
      await t.stop();
    }
  });

  it('shuts down promptly while Redis is down, and the next start mails what was accepted', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'optin-redis-down-'));
    const first = await startTestService({ env: { REDIS_URL: redisUrl() }, dataDir });
    redis.kill('SIGKILL');
    await redis.exited;
    let second: TestService | undefined;
    try {
      await waitFor(async () => (await fetch(`${first.url}/readyz`)).status === 503, 5000, 'Redis to be seen as down');
      expect((await postJson(`${first.url}/subscribe`, { email: 'accepted-while-down@example.com' })).status).toBe(202);
      // A stop that waited for Redis would never end: SIGTERM must still exit within 10 s.
      let deadline: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        first.stop().then(() => 'stopped'),
        // A timer on purpose: a stop still running when it fires is the hang this test is about.
        new Promise<string>((resolve) => (deadline = setTimeout(() => resolve('hung'), STOP_DEADLINE_MS))),
      ]);
      clearTimeout(deadline);
      expect(stopped).toBe('stopped');

      redis = await startRedisServer(port);
      second = await startTestService({ env: { REDIS_URL: redisUrl(), QUEUE_PREFIX: first.config.queuePrefix }, dataDir });
      await waitFor(() => second!.smtp.to('accepted-while-down@example.com')[0], 10_000, 'the mail accepted while Redis was down');
    } finally {
      if (redis.child.exitCode !== null || redis.child.signalCode !== null) redis = await startRedisServer(port);
      await second?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Registers the receiver for contact.suppressed and gives it the secret to verify with. */
async function registerReceiver(t: TestService, receiver: WebhookReceiver) {
  const res = await postJson(`${t.url}/admin/api/webhook-endpoints`, { url: receiver.url, events: ['contact.suppressed'] }, ADMIN_AUTH);
  expect(res.status).toBe(201);
  const { id, secret } = (await res.json()) as { id: string; secret: string };
  receiver.secret = secret;
  return id;
}

const suppressByAdmin = (t: TestService, email: string) =>
  postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH);
const deliveriesOf = (t: TestService, endpointId: string) => {
  const {
    db,
    tables: { webhookDeliveries },
  } = t.service.database;
  return db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointId));
};

describe('outbound webhooks when Redis fails', () => {
  it('an event whose change happened while Redis was down arrives once Redis is back', async () => {
    const receiver = await startWebhookReceiver();
    const t = await startTestService({ env: { REDIS_URL: redisUrl(), WEBHOOK_RELAY_INTERVAL_MS: '100' } });
    try {
      const id = await registerReceiver(t, receiver);
      redis.kill('SIGKILL');
      await redis.exited;
      await waitFor(async () => (await fetch(`${t.url}/readyz`)).status === 503, 5000, 'Redis to be seen as down');

      expect((await suppressByAdmin(t, 'during-outage@example.com')).status).toBe(201);
      // Nothing to wait for: with Redis' process gone no job can be added or taken, so the delivery
      // written with the change (below, queued) cannot have been sent, now or until Redis is back.
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
    const t = await startTestService({
      env: { REDIS_URL: redisUrl(), WEBHOOK_BACKOFF_MS: '60000', WEBHOOK_RELAY_INTERVAL_MS: '100', OUTBOX_REHAND_MS: '1000' },
    });
    const client = new Redis(redisUrl());
    try {
      const id = await registerReceiver(t, receiver);
      expect((await suppressByAdmin(t, 'flushed@example.com')).status).toBe(201);
      // Its first attempt answered (the count is taken before the POST, the status code after it).
      await waitFor(async () => (await deliveriesOf(t, id))[0]?.lastStatusCode === 500, 5000, 'a first attempt answered 500');
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
