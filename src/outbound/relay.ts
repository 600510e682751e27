import type { Queue } from 'bullmq';
import { and, asc, eq, inArray, isNull, lt, or } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import { loggableMessage } from '../queue/logErrors.js';
import type { RelayOptions } from '../queue/relay.js';
import type { WebhookJob } from './queue.js';

export interface WebhookRelay {
  /** One sweep (see startWebhookRelay); `everything` hands every queued row again. Returns how many were handed. */
  sweep(options?: { everything?: boolean }): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Hands webhook deliveries to their queue, as the outbox relay does mail (src/queue/relay.ts):
 * rows never handed, rows handed long ago whose job is gone, and every queued row again when
 * Redis (re)connects. It polls instead of being notified after each commit: deliveries are
 * written by every path that calls recordChanges (the service, the admin API, provider
 * webhooks, the mail worker's bounces), and one indexed query per interval finds them all
 * without each path knowing the relay; a receiver waits at most one interval longer.
 * Rows of disabled endpoints are held: they are not handed until the endpoint is enabled again.
 */
export function startWebhookRelay(database: Database, queue: Queue<WebhookJob>, logger: Logger, options: RelayOptions): WebhookRelay {
  const batchSize = options.batchSize ?? 500;
  let sweeping: Promise<number> | null = null;

  /** A row handed long ago needs handing again when its job is gone (Redis lost it, or it ended without the row being marked). */
  async function needsRehand(deliveryId: string): Promise<boolean> {
    const job = await queue.getJob(deliveryId);
    if (!job) return true;
    const state = await job.getState();
    if (state === 'completed' || state === 'failed' || state === 'unknown') {
      await job.remove().catch(() => {});
      return true;
    }
    return false;
  }

  /** Claims due rows in one short transaction, as the outbox relay does (FOR UPDATE SKIP LOCKED on PostgreSQL). */
  function claimDue(cutoff: number, now: number) {
    return database.transaction(async (tx) => {
      const { webhookDeliveries, webhookEndpoints } = tx.tables;
      const enabled = tx.db.select({ id: webhookEndpoints.id }).from(webhookEndpoints).where(eq(webhookEndpoints.enabled, true));
      const query = tx.db
        .select({ id: webhookDeliveries.id, handedAt: webhookDeliveries.handedAt })
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.status, 'queued'), or(isNull(webhookDeliveries.handedAt), lt(webhookDeliveries.handedAt, cutoff)), inArray(webhookDeliveries.endpointId, enabled)))
        .orderBy(asc(webhookDeliveries.createdAt))
        .limit(batchSize);
      const due = await (tx.dialect === 'postgresql' ? query.for('update', { skipLocked: true }) : query);
      if (due.length > 0) {
        await tx.db
          .update(webhookDeliveries)
          .set({ handedAt: now })
          .where(inArray(webhookDeliveries.id, due.map((row) => row.id)));
      }
      return due;
    });
  }

  /** A claim whose hand-over failed gives its rows back, so the next sweep tries them again. */
  function releaseClaim(ids: readonly string[], claimedAt: number) {
    return database.transaction(async (tx) => {
      const { webhookDeliveries } = tx.tables;
      await tx.db
        .update(webhookDeliveries)
        .set({ handedAt: null })
        .where(and(inArray(webhookDeliveries.id, [...ids]), eq(webhookDeliveries.handedAt, claimedAt)));
    });
  }

  async function sweepOnce(everything: boolean): Promise<number> {
    let handed = 0;
    const started = Date.now();
    const cutoff = everything ? started : started - options.rehandAfterMs;
    for (;;) {
      const now = Date.now();
      const due = await claimDue(cutoff, now);
      if (due.length === 0) return handed;
      try {
        const toHand: string[] = [];
        for (const row of due) if (everything || row.handedAt === null || (await needsRehand(row.id))) toHand.push(row.id);
        // jobId = delivery id: a row whose job still exists adds nothing.
        if (toHand.length > 0) await queue.addBulk(toHand.map((deliveryId) => ({ name: 'deliver', data: { deliveryId }, opts: { jobId: deliveryId } })));
        handed += toHand.length;
      } catch (error) {
        await releaseClaim(
          due.map((row) => row.id),
          now,
        ).catch((releaseError: unknown) => logger.warn({ err: loggableMessage(releaseError) }, 'webhook relay could not give back its claim; the rows are handed once they are due again'));
        throw error;
      }
      if (due.length < batchSize) return handed;
    }
  }

  const redisReady = () => options.connection === undefined || options.connection.status === 'ready';

  const relay: WebhookRelay = {
    sweep(sweepOptions) {
      const everything = sweepOptions?.everything === true;
      if (sweeping && !everything) return sweeping;
      const previous = sweeping;
      const run = previous ? previous.catch(() => 0).then(() => sweepOnce(everything)) : sweepOnce(everything);
      const current: Promise<number> = run.finally(() => {
        if (sweeping === current) sweeping = null;
      });
      sweeping = current;
      return current;
    },
    async stop() {
      clearInterval(timer);
      options.connection?.off('ready', onReady);
      await sweeping?.catch(() => {});
    },
  };

  const timer = setInterval(() => {
    if (!redisReady()) return;
    relay.sweep().catch((error: unknown) => logger.warn({ err: loggableMessage(error) }, 'webhook relay sweep failed; will retry'));
  }, options.intervalMs);
  timer.unref();
  const onReady = () => {
    relay.sweep({ everything: true }).then(
      (handed) => handed > 0 && logger.info({ handed }, 'Redis (re)connected: webhook relay handed queued deliveries again'),
      (error: unknown) => logger.warn({ err: loggableMessage(error) }, 'webhook relay sweep after reconnect failed; will retry'),
    );
  };
  options.connection?.on('ready', onReady);
  return relay;
}
