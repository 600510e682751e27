import { and, asc, gte, inArray, lt } from 'drizzle-orm';
import { inBatches } from '../../platform/db/batches.js';
import type { Database } from '../../platform/db/database.js';

/** Deliveries per transaction (their attempts go with them). */
export const DELIVERY_PRUNE_BATCH = 1000;

/**
 * Prunes webhook deliveries (OUTBOX_RETENTION): one that ended (delivered, failed for good, or
 * erased before it went) longer ago than the retention is deleted with its attempts, in
 * transactions of at most `batchSize` deliveries, oldest end first along the
 * webhook_deliveries_finished index (each batch from where the last one stopped), until none is due. A queued delivery, held for a disabled
 * endpoint included, has no end yet and stays; so a job for a pruned one finds no row and sends
 * nothing. On PostgreSQL a row another transaction holds ("send again") is skipped until the next sweep.
 * Returns the deliveries pruned in each transaction.
 */
export async function pruneWebhookDeliveries(
  database: Database,
  retentionMs: number,
  now = Date.now(),
  batchSize = DELIVERY_PRUNE_BATCH,
): Promise<number[]> {
  const cutoff = now - retentionMs;
  // Where the previous batch stopped: PostgreSQL keeps a deleted row's index entry until a vacuum.
  let from = 0;
  return inBatches(database, batchSize, async (tx) => {
    const { webhookAttempts, webhookDeliveries } = tx.tables;
    const query = tx.db
      .select({ id: webhookDeliveries.id, finishedAt: webhookDeliveries.finishedAt })
      .from(webhookDeliveries)
      .where(
        and(
          gte(webhookDeliveries.finishedAt, from),
          lt(webhookDeliveries.finishedAt, cutoff),
          inArray(webhookDeliveries.status, ['delivered', 'failed', 'erased']),
        ),
      )
      .orderBy(asc(webhookDeliveries.finishedAt))
      .limit(batchSize);
    const due = await (tx.dialect === 'postgresql' ? query.for('update', { skipLocked: true }) : query);
    const ids = due.map((row) => row.id);
    if (ids.length === 0) return 0;
    from = due[due.length - 1]!.finishedAt!;
    await tx.db.delete(webhookAttempts).where(inArray(webhookAttempts.deliveryId, ids));
    await tx.db.delete(webhookDeliveries).where(inArray(webhookDeliveries.id, ids));
    return ids.length;
  });
}
