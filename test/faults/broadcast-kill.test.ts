import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { count, eq, gt } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { broadcastApi, progressOf, seedConfirmedList } from '../support/broadcasts.js';
import { waitFor } from '../support/http.js';
import { freePort, startServiceProcess, startWorkerProcess, type RunningProcess } from '../support/processes.js';
import { deleteRedisKeys, openTestDatabase, removeDataDir, testServiceEnv, TEST_ADMIN_TOKEN } from '../support/service.js';
import { startSmtpSink, type ReceivedMail } from '../support/smtpSink.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Jobs a worker holds at once (WORKER_CONCURRENCY's default): the most a killed one can leave half-done. */
const WORKER_CONCURRENCY = 20;

/** An API process and worker processes on one database, Redis prefix and SMTP sink; a list seeded with `recipients`. */
async function setup(recipients: number, options: { dataDelayMs?: number; env?: Record<string, string> }) {
  const arrivals: number[] = [];
  const counter = { dataReceived: 0 };
  const sink = await startSmtpSink({ dataDelayMs: options.dataDelayMs ?? 0, onData: () => void counter.dataReceived++ });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'optin-broadcast-'));
  const prefix = `test-${randomUUID()}`;
  const database = await openTestDatabase(dataDir);
  const { emails } = await seedConfirmedList(database, 'news', recipients);
  const env = {
    PORT: String(await freePort()),
    ...testServiceEnv({ queuePrefix: prefix, smtpUrl: sink.url }),
    DATABASE_PATH: path.join(dataDir, 'optin.db'),
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    SEND_LOCK_MS: '2000',
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const processes: RunningProcess[] = [];
  cleanups.push(async () => {
    for (const p of processes) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await database.close();
    await sink.close();
    await removeDataDir(dataDir);
    await deleteRedisKeys(`${prefix}:*`);
  });
  const api = await startServiceProcess(env, ['api']);
  processes.push(api);
  const startWorker = async () => {
    const worker = await startWorkerProcess(env);
    processes.push(worker);
    return worker;
  };
  const original = sink.messages.push.bind(sink.messages);
  sink.messages.push = (...mails: ReceivedMail[]) => {
    for (let i = 0; i < mails.length; i++) arrivals.push(Date.now());
    return original(...mails);
  };
  return { sink, database, emails, api, startWorker, arrivals, inFlight: () => counter.dataReceived - sink.messages.length };
}

const messageId = (mail: ReceivedMail) => mail.parsed.messageId ?? '';

describe('broadcast worker processes', () => {
  it(
    'SIGKILL of the worker mid-broadcast: after a new worker, every recipient has its one message, none lost',
    { timeout: 180_000 },
    async () => {
      const RECIPIENTS = 1000;
      const { sink, database, emails, api, startWorker, inFlight } = await setup(RECIPIENTS, {
        dataDelayMs: 30,
        env: { BROADCAST_RATE_PER_MINUTE: '0' },
      });
      const doomed = await startWorker();
      const id = (await broadcastApi(api.url, '', { list: 'news', subject: 'Killed midway', body: 'Body', format: 'markdown' })).body
        .id as number;
      expect((await broadcastApi(api.url, `/${id}/send`)).body.status).toBe('sending');

      await waitFor(() => sink.messages.length >= 200 && inFlight() > 0, 60_000, 'sends in flight');
      doomed.kill('SIGKILL');
      expect(await doomed.exited).toBe('SIGKILL');
      const sentBefore = sink.messages.length;
      expect(sentBefore).toBeLessThan(RECIPIENTS);

      await startWorker();
      const done = await waitFor(
        async () => {
          const p = await progressOf(api.url, id);
          return p.status === 'sent' && p;
        },
        120_000,
        'the broadcast to finish',
      );
      expect(done).toMatchObject({ total: RECIPIENTS, sent: RECIPIENTS, queued: 0, dropped: 0, failed: 0 });

      // By Message-ID (derived from the row, so a resent copy carries the same one): one message per recipient.
      const ids = new Map<string, Set<string>>();
      for (const mail of sink.messages) for (const to of mail.envelopeTo) ids.set(to, new Set([...(ids.get(to) ?? []), messageId(mail)]));
      expect(emails.filter((email) => ids.get(email)?.size !== 1)).toEqual([]);
      // A second copy can only be one the SMTP server took while the killed worker had not yet marked it.
      expect(sink.messages.length - RECIPIENTS).toBeLessThanOrEqual(WORKER_CONCURRENCY);
      const { outbox } = database.tables;
      const [retaken] = await database.db.select({ n: count() }).from(outbox).where(gt(outbox.attempts, 1));
      const [rows] = await database.db.select({ n: count() }).from(outbox).where(eq(outbox.broadcastId, id));
      expect(rows!.n).toBe(RECIPIENTS);
      console.info(
        `broadcast SIGKILL: killed after ${sentBefore} of ${RECIPIENTS}; ${retaken!.n} rows taken over; ${sink.messages.length - RECIPIENTS} resent copies`,
      );
    },
  );

  it('BROADCAST_RATE_PER_MINUTE holds within 10 % across two workers', { timeout: 180_000 }, async () => {
    const RATE = 600;
    const WINDOW_MS = 10_000;
    const { sink, api, startWorker, arrivals } = await setup(160, { env: { BROADCAST_RATE_PER_MINUTE: String(RATE) } });
    const workers = [await startWorker(), await startWorker()];
    const id = (await broadcastApi(api.url, '', { list: 'news', subject: 'Paced', body: 'Body', format: 'markdown' })).body.id as number;
    await broadcastApi(api.url, `/${id}/send`);
    await waitFor(() => arrivals.length > 0 && Date.now() - arrivals[0]! > WINDOW_MS + 1000, 60_000, 'a measuring window');
    // Messages that arrived within WINDOW_MS of the first: the limiter's count, not this machine's speed.
    const inWindow = arrivals.filter((at) => at - arrivals[0]! < WINDOW_MS).length;
    const expected = (RATE / 60_000) * WINDOW_MS;
    console.info(`broadcast pace: ${inWindow} messages in ${WINDOW_MS} ms at ${RATE}/min (expected ${expected})`);
    expect(inWindow).toBeGreaterThanOrEqual(expected * 0.9);
    expect(inWindow).toBeLessThanOrEqual(expected * 1.1);
    // Both workers took part: the limit is shared through Redis, not per process.
    for (const worker of workers) expect(worker.output()).toContain('"kind":"broadcast"');
    expect(sink.messages.length).toBeLessThan(160);
  });
});
