import type { Queue } from 'bullmq';
import { and, asc, eq, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { outbox } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { handToQueue, type MailJob } from './mailQueue.js';

export interface OutboxRelay {
  /** Fast path after a commit: hand this row now; if Redis is away the sweep picks it up later. */
  notify(outboxId: string): void;
  /** One sweep: hand every queued row not handed recently. Returns how many were handed. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export interface RelayOptions {
  intervalMs: number;
  /** A queued row handed longer ago than this is handed again (its job may have been lost). */
  rehandAfterMs: number;
  batchSize?: number;
}

export function startOutboxRelay(db: Db, queue: Queue<MailJob>, logger: Logger, options: RelayOptions): OutboxRelay {
  const batchSize = options.batchSize ?? 500;
  const inFlight = new Set<Promise<unknown>>();
  let sweeping: Promise<number> | null = null;

  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    promise.finally(() => inFlight.delete(promise)).catch(() => {});
    return promise;
  };

  async function sweepOnce(): Promise<number> {
    let handed = 0;
    for (;;) {
      const now = Date.now();
      const due = db
        .select({ id: outbox.id })
        .from(outbox)
        .where(and(eq(outbox.status, 'queued'), or(isNull(outbox.handedAt), lt(outbox.handedAt, now - options.rehandAfterMs))))
        .orderBy(asc(outbox.createdAt))
        .limit(batchSize)
        .all();
      if (due.length === 0) return handed;
      await handToQueue(db, queue, due.map((row) => row.id), now);
      handed += due.length;
      if (due.length < batchSize) return handed;
    }
  }

  // Rows notified in one turn of the event loop go to Redis in one call and get one handedAt
  // update: under load that is one round trip and one write for many signups instead of each.
  let notified: string[] = [];
  const handNotified = () => {
    const outboxIds = notified;
    notified = [];
    if (outboxIds.length === 0) return;
    track(handToQueue(db, queue, outboxIds)).catch((error: Error) =>
      logger.warn({ err: error.message, outboxIds }, 'queue unavailable; the outbox relay will hand the messages later'),
    );
  };

  const relay: OutboxRelay = {
    notify(outboxId) {
      if (notified.length === 0) setImmediate(handNotified);
      notified.push(outboxId);
    },
    sweep() {
      // One sweep at a time: overlapping sweeps would only hand the same rows twice.
      sweeping ??= track(sweepOnce()).finally(() => {
        sweeping = null;
      });
      return sweeping;
    },
    async stop() {
      clearInterval(timer);
      handNotified();
      await Promise.allSettled([...inFlight]);
    },
  };

  const timer = setInterval(() => {
    relay.sweep().then(
      (handed) => handed > 0 && logger.info({ handed }, 'outbox relay handed messages to the queue'),
      (error: Error) => logger.warn({ err: error.message }, 'outbox relay sweep failed; will retry'),
    );
  }, options.intervalMs);
  timer.unref();
  return relay;
}
