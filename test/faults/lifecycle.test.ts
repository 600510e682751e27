import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { MAIL_QUEUE } from '../../src/platform/queue/queues.js';
import { waitFor } from '../support/http.js';
import { dropFolderDatabase, folderDatabaseName, POSTGRES_ADMIN_URL, TEST_ON_POSTGRES } from '../support/postgres.js';
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

/**
 * Whether anything still holds the database of a service's data folder open. SQLite removes the
 * WAL file when the last connection to the file closes; on PostgreSQL, the server lists every
 * connection to the folder's database (the test process is the only client it has).
 */
async function databaseStillOpen(dataDir: string): Promise<boolean> {
  if (!TEST_ON_POSTGRES) return existsSync(`${path.join(dataDir, 'optin.db')}-wal`);
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1', [
      folderDatabaseName(dataDir),
    ]);
    return rows[0]!.n > 0;
  } finally {
    await admin.end();
  }
}

/** Waits until the database is closed (a PostgreSQL backend ends a moment after its client has gone). */
const databaseClosed = (dataDir: string) => waitFor(async () => !(await databaseStillOpen(dataDir)), 3000, 'the database to be closed');

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
      await databaseClosed(dataDir);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
      await sink.close();
      if (TEST_ON_POSTGRES) await dropFolderDatabase(dataDir);
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
      await expect(t.service.database.ping()).rejects.toThrow();
      await databaseClosed(t.config.dataDir);
      await waitFor(async () => (await workersOn(prefix)) === 0, 3000, 'the mail worker to disconnect');
      expect((await fetch(`${t.url}/healthz`).catch((error: Error) => error)) instanceof Error).toBe(true);
    } finally {
      await t.smtp.close();
      if (TEST_ON_POSTGRES) await dropFolderDatabase(t.config.dataDir);
      rmSync(t.config.dataDir, { recursive: true, force: true });
      await deleteRedisKeys(`${prefix}:*`);
    }
  });
});
