import { and, eq, inArray, isNotNull } from 'drizzle-orm';
import { forUpdate, type Row, type Scope } from '../../platform/db/database.js';

/*
 * What other features need of a broadcast's recipients (the opt-out counts a recipient's click on
 * its row; an erasure keeps the rows as facts), apart from the broadcast's own service: nothing
 * here answers a person with an error.
 */

/** A broadcast's outbox row id: one per broadcast and subscription, so a recipient can never be written twice. */
export const broadcastOutboxId = (broadcastId: number, subscriptionId: number) => `bc${broadcastId}-${subscriptionId}`;

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

/** recipientsOf (service.ts) for one subscription already read: confirmed by the start, and not ended before it. */
function wasRecipient(s: Row<'subscriptions'>, broadcast: Row<'broadcasts'>): boolean {
  const startedAt = broadcast.startedAt;
  if (startedAt === null || s.confirmedAt === null || s.confirmedAt > startedAt) return false;
  return s.status === 'confirmed' || (s.status === 'unsubscribed' && s.unsubscribedAt !== null && s.unsubscribedAt >= startedAt);
}
