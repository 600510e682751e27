import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { describe, expect, it, vi } from 'vitest';
import { MAIL_QUEUE } from '../../src/queue/mailQueue.js';
import { waitFor } from '../support/http.js';
import { freePort } from '../support/processes.js';
import { deleteRedisKeys, REDIS_URL, startTestService } from '../support/service.js';
import { startSmtpSink } from '../support/smtpSink.js';

/** How many BullMQ workers are connected to a queue prefix's mail queue. */
async function workersOn(prefix: string): Promise<number> {
  const probe = new Queue(MAIL_QUEUE, { connection: { url: REDIS_URL }, prefix });
  try {
    return (await probe.getWorkers()).length;
  } finally {
    await probe.close();
  }
}

/** SQLite removes the WAL file when the last connection to the database closes. */
const databaseStillOpen = (databasePath: string) => existsSync(`${databasePath}-wal`);

describe('start-up and shutdown close every part', () => {
  it('closes what it had started when start-up fails half-way (the port is taken)', async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    const sink = await startSmtpSink();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'optin-halfway-'));
    const prefix = `test-${randomUUID()}`;
    try {
      await expect(startTestService({ sink, dataDir, env: { PORT: String(port), QUEUE_PREFIX: prefix } })).rejects.toThrow(/EADDRINUSE/);
      // The worker, the relay, Redis and the database had been started before the listen failed.
      await waitFor(async () => (await workersOn(prefix)) === 0, 3000, 'no mail worker left connected');
      expect(databaseStillOpen(path.join(dataDir, 'optin.db'))).toBe(false);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
      await sink.close();
      rmSync(dataDir, { recursive: true, force: true });
      await deleteRedisKeys(`${prefix}:*`);
    }
  });

  it('closes every other part when one fails to close, then reports the failure', async () => {
    const t = await startTestService();
    const prefix = t.config.queuePrefix;
    try {
      await waitFor(async () => (await workersOn(prefix)) === 1, 3000, 'the mail worker to connect');
      // The queue is closed in the middle of the shutdown: everything after it must still close.
      vi.spyOn(t.service.queue.queue, 'close').mockRejectedValueOnce(new Error('queue close failed'));
      await expect(t.service.stop()).rejects.toThrow(/queue/);
      await waitFor(() => t.service.queue.redis.status === 'end', 3000, "the queue's Redis connection to end");
      expect(t.service.db.$client.open).toBe(false);
      expect(databaseStillOpen(t.config.databasePath)).toBe(false);
      await waitFor(async () => (await workersOn(prefix)) === 0, 3000, 'the mail worker to disconnect');
      expect((await fetch(`${t.url}/healthz`).catch((error: Error) => error)) instanceof Error).toBe(true);
    } finally {
      await t.smtp.close();
      rmSync(path.dirname(t.config.databasePath), { recursive: true, force: true });
      await deleteRedisKeys(`${prefix}:*`);
    }
  });
});
