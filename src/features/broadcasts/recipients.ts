import { and, count, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import { forUpdate, type Row, type Scope } from '../../platform/db/database.js';

/*
 * What other features need of a broadcast's recipients (the opt-out counts a recipient's click on
 * its row; an erasure keeps the rows as facts), apart from the broadcast's own service: nothing
 * here answers a person with an error.
 */

/** A broadcast's outbox row id: one per broadcast and subscription, so a recipient can never be written twice. */
export const broadcastOutboxId = (broadcastId: number, subscriptionId: number) => `bc${broadcastId}-${subscriptionId}`;

/** What a row of a cancelled broadcast carries as lastError: it was given up, not refused by the mail policy. */
export const CANCELLED = 'cancelled';

/** What a broadcast's row of an erased recipient carries as lastError: nothing about the person. */
export const ERASED = 'erased';

/**
 * An erasure's part in the broadcasts, in the erasure's transaction, before it deletes these
 * subscriptions: each broadcast's counts are facts of the time of sending, so its rows of these
 * recipients stay, holding nothing about the person (no subscription, no SMTP message, which may
 * quote the address). A row still waiting is `dropped` now (the erasure stopped it); a recipient
 * of a broadcast sending or paused whose row is not written yet gets a `dropped` row, so that
 * `sent + dropped + failed + queued = total` holds at every moment.
 */
export async function keepRecipientFacts(tx: Scope, erased: readonly Row<'subscriptions'>[], now: number): Promise<void> {
  if (erased.length === 0) return;
  const { broadcasts, outbox } = tx.tables;
  const ids = erased.map((s) => s.id);
  const ofThem = and(inArray(outbox.subscriptionId, ids), isNotNull(outbox.broadcastId));
  // The broadcasts whose recipients are still being written: locked (in id order), so a batch
  // writing them either committed before (its rows are handled below) or waits and then skips them.
  const active = await forUpdate(
    tx,
    tx.db
      .select()
      .from(broadcasts)
      .where(and(inArray(broadcasts.listId, [...new Set(erased.map((s) => s.listId))]), inArray(broadcasts.status, ['sending', 'paused'])))
      .orderBy(broadcasts.id),
  );
  await tx.db
    .update(outbox)
    .set({ status: 'dropped', lastError: ERASED })
    .where(and(ofThem, eq(outbox.status, 'queued')));
  await tx.db
    .update(outbox)
    .set({ lastError: ERASED })
    .where(and(ofThem, eq(outbox.status, 'failed')));
  await tx.db.update(outbox).set({ subscriptionId: null }).where(ofThem);
  const unwritten = active.flatMap((broadcast) =>
    erased
      .filter((s) => s.listId === broadcast.listId && wasRecipient(s, broadcast) && s.id > (broadcast.queuedThrough ?? 0))
      .map((s) => ({
        id: broadcastOutboxId(broadcast.id, s.id),
        kind: 'broadcast' as const,
        subscriptionId: null,
        status: 'dropped' as const,
        lastError: ERASED,
        createdAt: now,
        broadcastId: broadcast.id,
      })),
  );
  if (unwritten.length > 0) await tx.db.insert(outbox).values(unwritten).onConflictDoNothing();
}

/** A broadcast whose rows may be pruned from the outbox: it has ended, so none of them changes any more. */
export const ENDED_BROADCAST_STATUSES = ['sent', 'cancelled'] as const;

/**
 * Pruning's part in the broadcasts, in the pruning's transaction, before it deletes these outbox
 * rows (of ended broadcasts only): each broadcast adds them to its pruned_* counts, so its
 * progress (broadcastProgress) reads the same after as before.
 */
export async function keepPrunedCounts(tx: Scope, outboxIds: readonly string[]): Promise<void> {
  if (outboxIds.length === 0) return;
  const { broadcasts, outbox } = tx.tables;
  const groups = await tx.db
    .select({ broadcastId: outbox.broadcastId, status: outbox.status, lastError: outbox.lastError, n: count() })
    .from(outbox)
    .where(and(inArray(outbox.id, [...outboxIds]), isNotNull(outbox.broadcastId)))
    .groupBy(outbox.broadcastId, outbox.status, outbox.lastError);
  const byBroadcast = new Map<number, { sent: number; dropped: number; cancelled: number }>();
  for (const group of groups) {
    const counts = byBroadcast.get(group.broadcastId!) ?? { sent: 0, dropped: 0, cancelled: 0 };
    const n = Number(group.n);
    if (group.status === 'sent') counts.sent += n;
    else if (group.status === 'dropped') {
      counts.dropped += n;
      if (group.lastError === CANCELLED) counts.cancelled += n;
    } else throw new Error(`a ${group.status} row of broadcast ${group.broadcastId} was about to be pruned`);
    byBroadcast.set(group.broadcastId!, counts);
  }
  for (const [id, counts] of [...byBroadcast].sort(([a], [b]) => a - b)) {
    await tx.db
      .update(broadcasts)
      .set({
        prunedSent: sql`${broadcasts.prunedSent} + ${counts.sent}`,
        prunedDropped: sql`${broadcasts.prunedDropped} + ${counts.dropped}`,
        prunedCancelled: sql`${broadcasts.prunedCancelled} + ${counts.cancelled}`,
      })
      .where(eq(broadcasts.id, id));
  }
}

/** recipientsOf (service.ts) for one subscription already read: confirmed by the start, and not ended before it. */
function wasRecipient(s: Row<'subscriptions'>, broadcast: Row<'broadcasts'>): boolean {
  const startedAt = broadcast.startedAt;
  if (startedAt === null || s.confirmedAt === null || s.confirmedAt > startedAt) return false;
  return s.status === 'confirmed' || (s.status === 'unsubscribed' && s.unsubscribedAt !== null && s.unsubscribedAt >= startedAt);
}
