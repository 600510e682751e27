import type { Db } from './client.js';

export type WriteTx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** Tries at BEGIN IMMEDIATE; each already waits up to the connection's busy_timeout. */
const BEGIN_ATTEMPTS = 3;

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * The one way to run a transaction that writes. It begins IMMEDIATE, taking the write lock
 * before its first read: a deferred transaction that reads and then writes is refused at once
 * with SQLITE_BUSY (busy_timeout does not apply) when another process (an API beside a worker,
 * `npm start` beside `npm start -- api`) committed in between. An opt-out refused that way is lost.
 *
 * BEGIN IMMEDIATE waits for the lock up to busy_timeout. If the other process holds it longer
 * still (a big import batch, a checkpoint on a slow disk), BEGIN is tried a few more times:
 * a slow answer beats a lost opt-out. Only BEGIN is retried, never `write` once it has run, so
 * its work is never done twice. Nested inside another transaction it is a savepoint, as usual.
 */
export function writeTransaction<T>(db: Db, write: (tx: WriteTx) => T): T {
  for (let attempt = 1; ; attempt += 1) {
    let began = false;
    try {
      return db.transaction(
        (tx) => {
          began = true;
          return write(tx);
        },
        { behavior: 'immediate' },
      );
    } catch (error) {
      if (began || !isBusy(error) || attempt >= BEGIN_ATTEMPTS) throw error;
    }
  }
}
