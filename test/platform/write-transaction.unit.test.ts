import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type Database } from '../../src/platform/db/database.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const BUSY_TIMEOUT_MS = 100;

const cleanups: (() => void | Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function freshDatabase(): { database: Database; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'optin-tx-'));
  const file = path.join(dir, 'optin.db');
  // Short, so the test waits a little past it rather than the production 5 s.
  const database = openSqliteDatabase(file, { busyTimeoutMs: BUSY_TIMEOUT_MS });
  cleanups.push(
    () => rmSync(dir, { recursive: true, force: true }),
    () => database.close(),
  );
  return { database, file };
}

/** Another connection (its own thread, as another process would be) holds the write lock for holdMs. */
async function holdWriteLock(file: string, holdMs: number): Promise<void> {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const Database = require('better-sqlite3');
     const db = new Database(workerData.file);
     db.exec('BEGIN IMMEDIATE');
     parentPort.postMessage('locked');
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMs);
     db.exec('COMMIT');
     db.close();`,
    { eval: true, workerData: { file, holdMs } },
  );
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  cleanups.push(() => exited);
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

describe('Database.transaction on SQLite', () => {
  it('waits out a writer that holds the lock past the busy timeout, and runs its work once', async () => {
    const { database, file } = freshDatabase();
    // Longer than two busy timeouts: BEGIN is refused twice before it gets the lock.
    await holdWriteLock(file, BUSY_TIMEOUT_MS * 2.5);
    let runs = 0;
    const answer = await database.transaction(async (tx) => {
      runs += 1;
      await tx.db.insert(tx.tables.lists).values({ slug: 'after-the-wait', name: 'After the wait', createdAt: Date.now() });
      return 'written';
    });
    expect(answer).toBe('written');
    expect(runs).toBe(1);
    const { lists } = database.tables;
    expect((await database.db.select().from(lists)).map((l) => l.slug)).toContain('after-the-wait');
  });

  it('gives up with SQLITE_BUSY after a few tries, never having run its work', async () => {
    const { database, file } = freshDatabase();
    await holdWriteLock(file, BUSY_TIMEOUT_MS * 6);
    let runs = 0;
    await expect(database.transaction(async () => (runs += 1))).rejects.toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/) });
    expect(runs).toBe(0);
  });

  it('does not retry work that failed on its own', async () => {
    const { database } = freshDatabase();
    let runs = 0;
    const busyLookalike = Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' });
    await expect(
      database.transaction(async () => {
        runs += 1;
        throw busyLookalike;
      }),
    ).rejects.toBe(busyLookalike);
    expect(runs).toBe(1);
  });

  it('is the only way transactions are opened in src/ (a deferred one fails beside another process)', () => {
    // database.transaction( is the way; drizzle's own, on a handle or connection, only database.ts may call.
    const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter(
      (f) => f.endsWith('.ts') && f !== path.join('db', 'database.ts'),
    );
    const offenders = files.filter((f) => /(?:\bdb|\btx|\$client|\bsqlite)\.transaction\(/.test(readFileSync(path.join(SRC, f), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
