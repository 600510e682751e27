import type { Queue } from 'bullmq';
import { and, asc, eq, inArray, isNotNull, isNull, lt, notInArray, or, sql } from 'drizzle-orm';
import type { Database } from '../../platform/db/database.js';
import type { Logger } from '../../logger.js';
import type { RelayOptions } from '../delivery/index.js';
import { addJobsById } from '../../platform/queue/queues.js';
import { startRelayLoop, type HandableRow } from '../../platform/queue/relayLoop.js';
import type { WebhookJob } from './queue.js';

export interface WebhookRelay {
  /** One sweep (see RelayLoop.sweep); `everything` hands every queued row again. Returns how many were handed. */
  sweep(options?: { everything?: boolean }): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Hands webhook deliveries to their queue with the outbox relay's loop (src/queue/relayLoop.ts):
 * rows never handed, rows handed long ago whose job is gone, and every queued row again when
 * Redis (re)connects. It polls instead of being notified after each commit: deliveries are
 * written by every path that calls recordChanges (the service, the admin API, provider
 * webhooks, the mail worker's bounces), and one indexed query per interval finds them all
 * without each path knowing the relay; a receiver waits at most one interval longer.
 * Rows of disabled endpoints are held: they are not handed until the endpoint is enabled again,
 * and then, while it sends its backlog, one at a time in order.
 */
export function startWebhookRelay(database: Database, queue: Queue<WebhookJob>, logger: Logger, options: RelayOptions): WebhookRelay {
  const batchSize = options.batchSize ?? 500;

  /**
   * A row handed long ago needs handing again when its job is gone (Redis lost it, or it ended
   * without marking the row). The worker decides from the row, so a finished job is simply run again.
   */
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

  /**
   * Claims due rows of enabled endpoints in one short transaction (FOR UPDATE SKIP LOCKED on
   * PostgreSQL, as the outbox relay). Of an endpoint sending its backlog in order
   * (backlogUntil set), only its oldest queued row: the next is handed once that one has ended.
   */
  function claimDue(cutoff: number, now: number, limit: number) {
    return database.transaction(async (tx) => {
      const { webhookDeliveries, webhookEndpoints } = tx.tables;
      const enabled = tx.db.select({ id: webhookEndpoints.id }).from(webhookEndpoints).where(eq(webhookEndpoints.enabled, true));
      const inOrder = tx.db.select({ id: webhookEndpoints.id }).from(webhookEndpoints).where(isNotNull(webhookEndpoints.backlogUntil));
      // (created_at, id) orders an endpoint's deliveries as they were made (ids sort by time and count).
      const noOlderQueued = sql`not exists (select 1 from webhook_deliveries older
        where older.endpoint_id = ${webhookDeliveries.endpointId} and older.status = 'queued'
        and (older.created_at < ${webhookDeliveries.createdAt}
          or (older.created_at = ${webhookDeliveries.createdAt} and older.id < ${webhookDeliveries.id})))`;
      const query = tx.db
        .select({ id: webhookDeliveries.id, handedAt: webhookDeliveries.handedAt })
        .from(webhookDeliveries)
        .where(
          and(
            eq(webhookDeliveries.status, 'queued'),
            or(isNull(webhookDeliveries.handedAt), lt(webhookDeliveries.handedAt, cutoff)),
            inArray(webhookDeliveries.endpointId, enabled),
            or(notInArray(webhookDeliveries.endpointId, inOrder), noOlderQueued),
          ),
        )
        .orderBy(asc(webhookDeliveries.createdAt), asc(webhookDeliveries.id))
        .limit(limit);
      const due = await (tx.dialect === 'postgresql' ? query.for('update', { skipLocked: true }) : query);
      if (due.length > 0) {
        await tx.db
          .update(webhookDeliveries)
          .set({ handedAt: now })
          .where(
            inArray(
              webhookDeliveries.id,
              due.map((row) => row.id),
            ),
          );
      }
      return due;
    });
  }

  /** A claim whose hand-over failed is given back as never handed (only rows still carrying its stamp), so the next sweep hands them. */
  function releaseClaim(rows: readonly HandableRow[], claimedAt: number) {
    return database.transaction(async (tx) => {
      const { webhookDeliveries } = tx.tables;
      await tx.db
        .update(webhookDeliveries)
        .set({ handedAt: null })
        .where(
          and(
            inArray(
              webhookDeliveries.id,
              rows.map((row) => row.id),
            ),
            eq(webhookDeliveries.handedAt, claimedAt),
          ),
        );
    });
  }

  // jobId = delivery id: a row whose job still exists adds nothing.
  const hand = (ids: readonly string[]) => addJobsById(queue, 'deliver', 'deliveryId', ids);
  const loop = startRelayLoop({ claimDue, releaseClaim, needsRehand, hand, batchSize }, logger, {
    ...options,
    name: 'webhook relay',
    rows: 'deliveries',
  });

  return {
    sweep: (sweepOptions) => loop.sweep(sweepOptions),
    async stop() {
      loop.stop();
      await loop.settle();
    },
  };
}
