import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase, type Db } from '../../src/db/client.js';
import { writeTransaction } from '../../src/db/transaction.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const BUSY_TIMEOUT_MS = 100;

const cleanups: (() => void | Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function freshDatabase(): { db: Db; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'optin-tx-'));
  const file = path.join(dir, 'optin.db');
  const db = openDatabase(file);
  // Short, so the test waits a little past it rather than the production 5 s.
  db.$client.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => closeDatabase(db));
  return { db, file };
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

describe('writeTransaction', () => {
  it('waits out a writer that holds the lock past the busy timeout, and runs its work once', async () => {
    const { db, file } = freshDatabase();
    // Longer than two busy timeouts: BEGIN is refused twice before it gets the lock.
    await holdWriteLock(file, BUSY_TIMEOUT_MS * 2.5);
    let runs = 0;
    const answer = writeTransaction(db, () => {
      runs += 1;
      return 'written';
    });
    expect(answer).toBe('written');
    expect(runs).toBe(1);
  });

  it('gives up with SQLITE_BUSY after a few tries, never having run its work', async () => {
    const { db, file } = freshDatabase();
    await holdWriteLock(file, BUSY_TIMEOUT_MS * 6);
    let runs = 0;
    expect(() => writeTransaction(db, () => (runs += 1))).toThrow(expect.objectContaining({ code: expect.stringMatching(/^SQLITE_BUSY/) }));
    expect(runs).toBe(0);
  });

  it('does not retry work that failed on its own', () => {
    const { db } = freshDatabase();
    let runs = 0;
    const busyLookalike = Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' });
    expect(() =>
      writeTransaction(db, () => {
        runs += 1;
        throw busyLookalike;
      }),
    ).toThrow(busyLookalike);
    expect(runs).toBe(1);
  });

  it('is the only way transactions are opened in src/ (a deferred one fails beside another process)', () => {
    // database.ts is the dual-engine Database (PostgreSQL's transactions, SQLite's BEGIN IMMEDIATE), not used by the SQLite domain yet.
    const allowed = new Set([path.join('db', 'transaction.ts'), path.join('db', 'database.ts')]);
    const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !allowed.has(f));
    const offenders = files.filter((f) => /\.transaction\(/.test(readFileSync(path.join(SRC, f), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
