import type { Queue } from 'bullmq';
import { and, asc, eq, inArray, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { outbox } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { markDeliveryFailed } from './deliver.js';
import { handToQueue, type MailJob } from './mailQueue.js';

export interface OutboxRelay {
  /** Fast path after a commit: hand this row now; if Redis is away the sweep picks it up later. */
  notify(outboxId: string): void;
  /**
   * One sweep: hand every queued row never handed, and check on rows handed long ago (their job
   * may be lost, or have failed for good without the row being marked). With `everything`, every
   * queued row is handed again — for when Redis may have lost its data (it just reconnected);
   * jobs that still exist are left as they are. Returns how many rows were handed.
   */
  sweep(options?: { everything?: boolean }): Promise<number>;
  stop(): Promise<void>;
}

export interface RelayOptions {
  intervalMs: number;
  /** A queued row handed longer ago than this is handed again (its job may have been lost). */
  rehandAfterMs: number;
  batchSize?: number;
  /** The queue's Redis connection: each time it (re)connects, Redis may have lost jobs, so every queued row is handed again. */
  connection?: {
    readonly status: string;
    on(event: 'ready', listener: () => void): unknown;
    off(event: 'ready', listener: () => void): unknown;
  };
}

/** How long stop() waits for hand-overs in flight; their rows are safe in the outbox either way. */
const STOP_WAIT_MS = 2000;

export function startOutboxRelay(db: Db, queue: Queue<MailJob>, logger: Logger, options: RelayOptions): OutboxRelay {
  const batchSize = options.batchSize ?? 500;
  const inFlight = new Set<Promise<unknown>>();
  let sweeping: Promise<number> | null = null;

  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    promise.finally(() => inFlight.delete(promise)).catch(() => {});
    return promise;
  };

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
        if (markDeliveryFailed(db, outboxId, `gave up after ${job.attemptsMade} attempts: ${job.failedReason}`)) {
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

  async function sweepOnce(everything: boolean): Promise<number> {
    let handed = 0;
    const started = Date.now();
    // Rows handed during this sweep get handedAt >= started, so they drop out of the query.
    const cutoff = everything ? started : started - options.rehandAfterMs;
    for (;;) {
      const now = Date.now();
      const due = db
        .select({ id: outbox.id, handedAt: outbox.handedAt })
        .from(outbox)
        .where(and(eq(outbox.status, 'queued'), or(isNull(outbox.handedAt), lt(outbox.handedAt, cutoff))))
        .orderBy(asc(outbox.createdAt))
        .limit(batchSize)
        .all();
      if (due.length === 0) return handed;
      const toHand: string[] = [];
      const checked: string[] = [];
      for (const row of due) {
        if (everything || row.handedAt === null || (await needsRehand(row.id))) toHand.push(row.id);
        else checked.push(row.id);
      }
      await handToQueue(db, queue, toHand, now);
      if (checked.length > 0) db.update(outbox).set({ handedAt: now }).where(inArray(outbox.id, checked)).run();
      handed += toHand.length;
      if (due.length < batchSize) return handed;
    }
  }

  // While Redis is away, BullMQ commands wait for it to come back; handing nothing until then keeps
  // promises from piling up, and the sweep on reconnect hands every queued row.
  const redisReady = () => options.connection === undefined || options.connection.status === 'ready';

  // Rows notified in one turn of the event loop go to Redis in one call and get one handedAt
  // update: under load that is one round trip and one write for many signups instead of each.
  let notified: string[] = [];
  const handNotified = () => {
    const outboxIds = notified;
    notified = [];
    if (outboxIds.length === 0 || !redisReady()) return;
    track(handToQueue(db, queue, outboxIds)).catch((error: Error) =>
      logger.warn({ err: error.message, outboxIds }, 'queue unavailable; the outbox relay will hand the messages later'),
    );
  };

  const relay: OutboxRelay = {
    notify(outboxId) {
      if (notified.length === 0) setImmediate(handNotified);
      notified.push(outboxId);
    },
    sweep(sweepOptions) {
      const everything = sweepOptions?.everything === true;
      // One sweep at a time: overlapping sweeps would only hand the same rows twice. A full
      // sweep asked for while another runs follows it, since rows that one skipped still count.
      if (sweeping && !everything) return sweeping;
      const previous = sweeping;
      const run = previous ? previous.catch(() => 0).then(() => sweepOnce(everything)) : sweepOnce(everything);
      const current: Promise<number> = track(run).finally(() => {
        if (sweeping === current) sweeping = null;
      });
      sweeping = current;
      return current;
    },
    async stop() {
      clearInterval(timer);
      options.connection?.off('ready', onReady);
      handNotified();
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((resolve) => {
          timeout = setTimeout(resolve, STOP_WAIT_MS);
        }),
      ]);
      clearTimeout(timeout);
    },
  };

  const timer = setInterval(() => {
    if (!redisReady()) return;
    relay.sweep().then(
      (handed) => handed > 0 && logger.info({ handed }, 'outbox relay handed messages to the queue'),
      (error: Error) => logger.warn({ err: error.message }, 'outbox relay sweep failed; will retry'),
    );
  }, options.intervalMs);
  timer.unref();
  const onReady = () => {
    relay.sweep({ everything: true }).then(
      (handed) => handed > 0 && logger.info({ handed }, 'Redis (re)connected: outbox relay handed queued messages again'),
      (error: Error) => logger.warn({ err: error.message }, 'outbox relay sweep after reconnect failed; will retry'),
    );
  };
  options.connection?.on('ready', onReady);
  return relay;
}
