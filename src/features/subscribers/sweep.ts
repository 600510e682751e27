import pg from 'pg';
import type { Database } from '../../platform/db/database.js';
import type { Logger } from '../../logger.js';
import { deleteExpiredRequests, remindUnconfirmed, type ExpiryOutcome } from '../signup/index.js';
import { minimiseOptedOut } from './minimise.js';
import { pruneOutbox } from '../delivery/index.js';
import { pruneWebhookDeliveries } from '../webhooks-out/index.js';
import { loggableMessage } from '../../platform/queue/logErrors.js';

export const EXPIRY_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/** pg_try_advisory_lock key of the expiry sweep ("expiry" in ASCII); migrations take another. */
const EXPIRY_SWEEP_LOCK_KEY = 0x657870697279;

/**
 * The sweep runs in one process at a time: two at once would both log the same expiries in the
 * consent log, and both judge the same contacts bare.
 * - PostgreSQL: a session-level pg_try_advisory_lock, held on one pooled connection while the
 *   sweep's own (batched) transactions run on others. A process that does not get it skips this
 *   round: another is sweeping. The lock belongs to the session, so a process that dies
 *   mid-sweep lets go of it with its connection.
 * - SQLite: each of the sweep's transactions is BEGIN IMMEDIATE, so sweeps on one file already
 *   take turns, and each batch reads what the previous ones left.
 * Returns undefined when another process holds the sweep.
 */
async function asTheOnlySweeper<Outcome>(database: Database, sweep: () => Promise<Outcome>): Promise<Outcome | undefined> {
  if (database.dialect !== 'postgresql') return sweep();
  const pool = (database.db as unknown as { $client?: unknown }).$client;
  if (!(pool instanceof pg.Pool)) throw new Error('the expiry sweep needs the PostgreSQL pool to take its advisory lock');
  const connection = await pool.connect();
  let broken: Error | undefined;
  try {
    const { rows } = await connection.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [EXPIRY_SWEEP_LOCK_KEY]);
    if (!rows[0]?.locked) return undefined;
    try {
      return await sweep();
    } finally {
      await connection.query('select pg_advisory_unlock($1)', [EXPIRY_SWEEP_LOCK_KEY]).catch((error: Error) => {
        // Closing the connection ends the session, and the lock with it.
        broken = error;
      });
    }
  } catch (error) {
    broken ??= error as Error;
    throw error;
  } finally {
    connection.release(broken);
  }
}

/**
 * Deletes expired, never-confirmed signups, minimises contacts past OPTOUT_RETENTION
 * (minimise.ts), writes the one reminder of requests unconfirmed after CONFIRM_REMINDER_AFTER
 * (signup/reminder.ts) and prunes the outbox and the webhook deliveries past OUTBOX_RETENTION
 * (delivery/prune.ts, webhooks-out/prune.ts), now and then every interval (SWEEP_INTERVAL), in one
 * process at a time (see asTheOnlySweeper). A round still running when the next is due is not doubled.
 */
export function startExpirySweep(
  database: Database,
  secrets: readonly string[],
  logger: Logger,
  intervalMs = EXPIRY_SWEEP_INTERVAL_MS,
  optOutRetentionMs = 30 * 86_400_000,
  reminderAfterMs = 0,
  outboxRetentionMs = 30 * 86_400_000,
): { stop(): Promise<void>; firstRound: Promise<void> } {
  let running: Promise<void> | undefined;
  let firstRoundEnded = () => {};
  const firstRound = new Promise<void>((resolve) => (firstRoundEnded = resolve));
  const sweep = () => {
    if (running) return;
    running = (async () => {
      try {
        const total = (batches: number[]) => batches.reduce((sum, n) => sum + n, 0);
        const outcome = await asTheOnlySweeper(
          database,
          async (): Promise<ExpiryOutcome & { minimised: number; reminded: number; messagesPruned: number; deliveriesPruned: number }> => ({
            ...(await deleteExpiredRequests(database, secrets)),
            minimised: await minimiseOptedOut(database, secrets, optOutRetentionMs),
            reminded: await remindUnconfirmed(database, secrets, reminderAfterMs),
            messagesPruned: total(await pruneOutbox(database, outboxRetentionMs)),
            deliveriesPruned: total(await pruneWebhookDeliveries(database, outboxRetentionMs)),
          }),
        );
        if (outcome && outcome.reminded > 0) logger.info({ reminded: outcome.reminded }, 'reminders written to unconfirmed requests');
        if (outcome && outcome.subscriptions > 0) logger.info(outcome, 'expired signup requests deleted');
        if (outcome && outcome.minimised > 0) logger.info({ minimised: outcome.minimised }, 'opted-out contacts minimised');
        if (outcome && outcome.messagesPruned + outcome.deliveriesPruned > 0)
          logger.info(
            { messages: outcome.messagesPruned, webhookDeliveries: outcome.deliveriesPruned },
            'ended messages and webhook deliveries past OUTBOX_RETENTION pruned',
          );
      } catch (error) {
        logger.warn({ err: loggableMessage(error) }, 'expiry sweep failed; will try again');
      } finally {
        running = undefined;
        firstRoundEnded();
      }
    })();
  };
  const first = setTimeout(sweep, 1000);
  const timer = setInterval(sweep, intervalMs);
  first.unref();
  timer.unref();
  return {
    firstRound,
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
      firstRoundEnded();
      // The database closes after this: let a round in progress finish (its batches are short transactions).
      await running;
    },
  };
}
