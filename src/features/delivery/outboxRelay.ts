import type { Queue } from 'bullmq';
import { and, asc, eq, inArray, isNull, lt, or, type SQL } from 'drizzle-orm';
import { writeAlone, type Database } from '../../platform/db/database.js';
import type { Logger } from '../../logger.js';
import { markDeliveryFailed } from './service.js';
import { loggableMessage } from '../../platform/queue/logErrors.js';
import { addMailJobs, handToQueue, type MailJob } from '../../platform/queue/queues.js';
import { startRelayLoop, type HandableRow, type RelayLoopOptions } from '../../platform/queue/relayLoop.js';

export interface OutboxRelay {
  /**
   * Fast path after a commit: hand this row now; if Redis is away the sweep picks it up later.
   * `claimed`: the row was written already stamped handed (a signup's confirmation, see
   * requestSubscription), so only its job is added, with no second write to stamp it.
   */
  notify(outboxId: string, claimed?: boolean): void;
  /**
   * One sweep: hand every queued row never handed, and check on rows handed long ago (their job
   * may be lost, or have failed for good without the row being marked). With `everything`, every
   * queued row is handed again — for when Redis may have lost its data (it just reconnected);
   * jobs that still exist are left as they are. Returns how many rows were handed.
   */
  sweep(options?: { everything?: boolean }): Promise<number>;
  stop(): Promise<void>;
}

export type RelayOptions = Pick<RelayLoopOptions, 'intervalMs' | 'rehandAfterMs' | 'connection'> & {
  batchSize?: number;
  /**
   * Which outbox rows this relay hands: 'messages' (every kind but broadcasts, to the mail queue)
   * or 'broadcasts' (rows of broadcasts that are sending, to the broadcast queue), so a paused
   * broadcast's rows stay in the database and a big broadcast never delays a confirmation.
   */
  rows?: 'messages' | 'broadcasts';
  /**
   * How many more rows the queue should take now (e.g. a window minus the jobs waiting): the
   * broadcast relay keeps only a few seconds of work in Redis, so a pause holds at once.
   */
  capacity?: () => Promise<number>;
};

export function startOutboxRelay(database: Database, queue: Queue<MailJob>, logger: Logger, options: RelayOptions): OutboxRelay {
  const batchSize = options.batchSize ?? 500;

  /**
   * Decides what a row handed long ago needs. Its job is normally still waiting or being retried;
   * it may be gone (Redis lost its data), or have failed for good while the process died before
   * marking the row. Returns whether the row must be handed again.
   */
  async function needsRehand(outboxId: string): Promise<boolean> {
    const job = await queue.getJob(outboxId);
    if (!job) return true;
    const state = await job.getState();
    if (state === 'failed') {
      if (job.attemptsMade >= (job.opts.attempts ?? 1)) {
        if (await markDeliveryFailed(database, outboxId, `gave up after ${job.attemptsMade} attempts: ${job.failedReason}`)) {
          logger.error({ outboxId, err: job.failedReason }, 'message failed after every retry (marked by the relay)');
        }
      } else {
        // Failed with attempts to spare (it stalled too often): give it its remaining attempts.
        await job.retry('failed');
      }
      return false;
    }
    if (state === 'completed' || state === 'unknown') {
      // A finished job whose row is still queued never reached the worker's mark: run it again.
      await job.remove().catch(() => {});
      return true;
    }
    return false;
  }

  /**
   * Claims a batch of due rows (queued, and never handed or handed before `cutoff`): one short
   * transaction selects them and stamps them handed `now`; Redis is only called after the commit.
   * Several relays (one per process) must not hand the same rows over and over: on PostgreSQL
   * the select takes FOR UPDATE SKIP LOCKED, so a relay passes over the rows another is claiming
   * instead of waiting for them, and once that one commits its stamp keeps them out of every
   * relay's query until they are due again. On SQLite BEGIN IMMEDIATE already makes each claim
   * the only writer's (no locking clause there). jobId = row id keeps a row handed twice harmless anyway.
   */
  function claimDue(cutoff: number, now: number, limit: number) {
    return database.transaction(async (tx) => {
      const { broadcasts, outbox } = tx.tables;
      // Broadcast rows go by their own relay, and only while their broadcast is sending.
      const ofKind: SQL =
        options.rows === 'broadcasts'
          ? inArray(outbox.broadcastId, tx.db.select({ id: broadcasts.id }).from(broadcasts).where(eq(broadcasts.status, 'sending')))
          : isNull(outbox.broadcastId);
      // A broadcast's rows come in the order they were written (its index, no sort of 100,000 rows).
      const query = tx.db
        .select({ id: outbox.id, handedAt: outbox.handedAt })
        .from(outbox)
        .where(and(ofKind, eq(outbox.status, 'queued'), or(isNull(outbox.handedAt), lt(outbox.handedAt, cutoff))))
        .orderBy(...(options.rows === 'broadcasts' ? [] : [asc(outbox.createdAt)]))
        .limit(limit);
      const due = await (tx.dialect === 'postgresql' ? query.for('update', { skipLocked: true }) : query);
      if (due.length > 0) {
        await tx.db
          .update(outbox)
          .set({ handedAt: now })
          .where(
            inArray(
              outbox.id,
              due.map((row) => row.id),
            ),
          );
      }
      return due;
    });
  }

  /** A claim whose hand-over failed gives its rows back as they were, so the next sweep tries them again. */
  function releaseClaim(rows: readonly HandableRow[], claimedAt: number) {
    const byPrevious = new Map<number | null, string[]>();
    for (const row of rows) byPrevious.set(row.handedAt, [...(byPrevious.get(row.handedAt) ?? []), row.id]);
    return database.transaction(async (tx) => {
      const { outbox } = tx.tables;
      for (const [handedAt, ids] of byPrevious) {
        // Only rows still carrying this claim's stamp: a later claim's is left alone.
        await tx.db
          .update(outbox)
          .set({ handedAt })
          .where(and(inArray(outbox.id, ids), eq(outbox.handedAt, claimedAt)));
      }
    });
  }

  const broadcastRows = options.rows === 'broadcasts';
  const loop = startRelayLoop(
    {
      claimDue,
      releaseClaim,
      needsRehand,
      hand: (ids) => addMailJobs(queue, ids),
      batchSize,
      ...(options.capacity ? { capacity: options.capacity } : {}),
    },
    logger,
    { ...options, name: broadcastRows ? 'broadcast relay' : 'outbox relay', rows: broadcastRows ? 'broadcast messages' : 'messages' },
  );

  /**
   * A claimed row whose job could not be added is given back (handedAt cleared), so the next
   * sweep hands it within the relay's interval rather than after OUTBOX_REHAND_MS.
   */
  const handClaimed = async (outboxIds: string[]) => {
    try {
      await addMailJobs(queue, outboxIds);
    } catch (error) {
      await writeAlone(database, (tx) =>
        tx.db
          .update(tx.tables.outbox)
          .set({ handedAt: null })
          .where(and(inArray(tx.tables.outbox.id, outboxIds), eq(tx.tables.outbox.status, 'queued'))),
      );
      throw error;
    }
  };

  // Rows notified in one turn of the event loop go to Redis in one call and get one handedAt
  // update: under load that is one round trip and one write for many signups instead of each.
  // Rows written already claimed (signups' confirmations) need no update at all: at a quiet rate,
  // where each signup is its own batch, that write was a whole transaction per signup.
  let notified: string[] = [];
  let notifiedClaimed: string[] = [];
  const handNotified = () => {
    const [outboxIds, claimedIds] = [notified, notifiedClaimed];
    [notified, notifiedClaimed] = [[], []];
    // A claimed row waits for the sweep on reconnect, which hands every queued row.
    if (!loop.redisReady()) return;
    const warn = (ids: string[]) => (error: unknown) =>
      logger.warn({ err: loggableMessage(error), outboxIds: ids }, 'queue unavailable; the outbox relay will hand the messages later');
    if (outboxIds.length > 0) loop.track(handToQueue(database, queue, outboxIds)).catch(warn(outboxIds));
    if (claimedIds.length > 0) loop.track(handClaimed(claimedIds)).catch(warn(claimedIds));
  };

  const relay: OutboxRelay = {
    notify(outboxId, claimed = false) {
      if (notified.length === 0 && notifiedClaimed.length === 0) setImmediate(handNotified);
      (claimed ? notifiedClaimed : notified).push(outboxId);
    },
    sweep: (sweepOptions) => loop.sweep(sweepOptions),
    async stop() {
      loop.stop();
      handNotified();
      await loop.settle();
    },
  };

  return relay;
}
