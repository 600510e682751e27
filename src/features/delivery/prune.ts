import { and, asc, eq, gte, inArray, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import { inBatches } from '../../platform/db/batches.js';
import type { Database, Scope } from '../../platform/db/database.js';
import type { OutboxStatus } from '../../platform/db/schema.js';
import { ENDED_BROADCAST_STATUSES, keepPrunedCounts } from '../broadcasts/index.js';

/** Rows per transaction: each is a short write lock (SQLite) and a short list of ids, however much is due. */
export const PRUNE_BATCH = 1000;

/** The short code a dropped message keeps in its history (the gate's reasons are shorter still). */
const REASON_LENGTH = 64;

type EndedStatus = Extract<OutboxStatus, 'sent' | 'dropped'>;

/**
 * The ended rows of one status written (and, when sent, sent) before the cutoff, oldest first,
 * along the outbox_status_created index from `from` (where the previous batch of the round
 * stopped: PostgreSQL keeps the index entries of the rows deleted until a vacuum, and a scan from
 * the start would step over every one of them), so a batch costs the same however many rows the
 * outbox holds or the round has pruned. A broadcast's rows wait until it has ended (its counts
 * then move to the broadcast row, and no cancel or erasure changes them any more). Locked on
 * PostgreSQL, skipping a row another transaction holds (an opt-out marking it): that one waits
 * for the next sweep.
 */
async function dueRows(
  tx: Scope,
  status: EndedStatus,
  from: number,
  cutoff: number,
  limit: number,
): Promise<{ id: string; createdAt: number }[]> {
  const { broadcasts, outbox } = tx.tables;
  const query = tx.db
    .select({ id: outbox.id, createdAt: outbox.createdAt })
    .from(outbox)
    .where(
      and(
        eq(outbox.status, status),
        gte(outbox.createdAt, from),
        lt(outbox.createdAt, cutoff),
        status === 'sent' ? lt(outbox.sentAt, cutoff) : undefined,
        or(
          isNull(outbox.broadcastId),
          inArray(
            outbox.broadcastId,
            tx.db
              .select({ id: broadcasts.id })
              .from(broadcasts)
              .where(inArray(broadcasts.status, [...ENDED_BROADCAST_STATUSES])),
          ),
        ),
      ),
    )
    .orderBy(asc(outbox.createdAt))
    .limit(limit);
  return tx.dialect === 'postgresql' ? query.for('update', { skipLocked: true }) : query;
}

/**
 * Prunes the outbox (OUTBOX_RETENTION): sent and dropped messages older than the retention leave
 * it, in transactions of at most `batchSize` rows, until none is due. Queued rows (waiting, in a
 * worker's hands, or retrying) and failed ones (listed for admins) stay. Each batch, in one
 * transaction:
 * - writes what the contact's record shows of each (kind, subscription and so list, status, times,
 *   a dropped one's short reason) to mail_history, with insert … select, so nothing passes
 *   through this process; a row whose subscription is gone (an erased person's broadcast row)
 *   has nobody's record to go to;
 * - adds a broadcast's rows to its pruned counts (keepPrunedCounts), so its progress is unchanged;
 * - deletes them. A job still in the queue for one of them finds no row, and sends nothing.
 * The daily stats are their own rows and lose nothing. The gate's windows look at most a day back
 * in the outbox (a goodbye a day, the daily cap of confirmations), hence a day at least for the
 * retention; the confirmations it counts for good come from the history as well.
 * Returns the rows pruned in each transaction.
 */
export async function pruneOutbox(database: Database, retentionMs: number, now = Date.now(), batchSize = PRUNE_BATCH): Promise<number[]> {
  const cutoff = now - retentionMs;
  const from: Record<EndedStatus, number> = { sent: 0, dropped: 0 };
  const take = async (tx: Scope, status: EndedStatus, limit: number) => {
    const rows = await dueRows(tx, status, from[status], cutoff, limit);
    if (rows.length > 0) from[status] = rows[rows.length - 1]!.createdAt;
    return rows.map((row) => row.id);
  };
  return inBatches(database, batchSize, async (tx) => {
    const ids = await take(tx, 'sent', batchSize);
    if (ids.length < batchSize) ids.push(...(await take(tx, 'dropped', batchSize - ids.length)));
    if (ids.length === 0) return 0;
    const { mailHistory, outbox } = tx.tables;
    const shortReason = sql<string | null>`case when ${outbox.status} = 'dropped'
        then substr(${outbox.lastError}, 1, ${sql.raw(String(REASON_LENGTH))}) end`;
    // SQLite numbers a NULL key itself; PostgreSQL's identity takes DEFAULT only in VALUES, not in a SELECT.
    const newId = tx.dialect === 'postgresql' ? sql<number>`nextval(pg_get_serial_sequence('mail_history', 'id'))` : sql<number>`null`;
    await tx.db.insert(mailHistory).select(
      tx.db
        .select({
          id: newId.as('id'),
          subscriptionId: sql<number>`${outbox.subscriptionId}`.as('subscription_id'),
          broadcastId: outbox.broadcastId,
          kind: outbox.kind,
          status: sql<'sent' | 'dropped'>`${outbox.status}`.as('status'),
          reason: shortReason.as('reason'),
          createdAt: outbox.createdAt,
          sentAt: outbox.sentAt,
          optedOutAt: outbox.optedOutAt,
        })
        .from(outbox)
        .where(and(inArray(outbox.id, ids), isNotNull(outbox.subscriptionId))),
    );
    await keepPrunedCounts(tx, ids);
    await tx.db.delete(outbox).where(inArray(outbox.id, ids));
    return ids.length;
  });
}
