import { randomUUID } from 'node:crypto';
import { and, asc, eq, gt, isNull, lte } from 'drizzle-orm';
import type { Database } from '../../platform/db/database.js';
import { CONFIRM_TOKEN_TTL_MS } from '../../platform/http/tokens.js';
import { addDailyCounts, dayOf } from '../dashboard/index.js';
import { mayMail } from '../policy/index.js';

/** Requests read per round, each then claimed in a short transaction of its own. */
const BATCH = 500;

/**
 * The one reminder of each request still unconfirmed CONFIRM_REMINDER_AFTER after it was made,
 * on lists that send them (`remindUnconfirmed`), written by the sweep. A request is claimed by
 * setting its `reminded_at` where it is still null, in the transaction that writes the outbox
 * row, so two processes never write two reminders; the gate decides as for a confirmation (a
 * request cancelled by "not me", suppressed, erased or lapsed gets none). The relay hands the
 * rows to the queue. Returns how many reminders were written.
 */
export async function remindUnconfirmed(
  database: Database,
  secrets: readonly string[],
  afterMs: number,
  now = Date.now(),
): Promise<number> {
  if (afterMs <= 0) return 0;
  const { contacts, lists, subscriptions } = database.tables;
  // A request made at t lapses at t + CONFIRM_TOKEN_TTL_MS: it is due once t + afterMs has passed.
  const dueBy = now - afterMs + CONFIRM_TOKEN_TTL_MS;
  let written = 0;
  for (let after = 0; ;) {
    const due = await database.db
      .select({
        id: subscriptions.id,
        listId: subscriptions.listId,
        confirmExpiresAt: subscriptions.confirmExpiresAt,
        emailKey: contacts.emailKey,
      })
      .from(subscriptions)
      .innerJoin(lists, eq(lists.id, subscriptions.listId))
      .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
      .where(
        and(
          gt(subscriptions.id, after),
          eq(subscriptions.status, 'pending'),
          isNull(subscriptions.remindedAt),
          eq(lists.remindUnconfirmed, true),
          gt(subscriptions.confirmExpiresAt, now),
          lte(subscriptions.confirmExpiresAt, dueBy),
        ),
      )
      .orderBy(asc(subscriptions.id))
      .limit(BATCH);
    if (due.length === 0) return written;
    after = due.at(-1)!.id;
    for (const request of due) {
      const wrote = await database.transaction(async (tx) => {
        const { outbox } = tx.tables;
        const claimed = await tx.db
          .update(tx.tables.subscriptions)
          .set({ remindedAt: now })
          .where(
            and(
              eq(tx.tables.subscriptions.id, request.id),
              isNull(tx.tables.subscriptions.remindedAt),
              eq(tx.tables.subscriptions.status, 'pending'),
              // The same request: a new signup meanwhile gave it a new expiry, and a new clock.
              eq(tx.tables.subscriptions.confirmExpiresAt, request.confirmExpiresAt!),
            ),
          )
          .returning({ id: tx.tables.subscriptions.id });
        if (claimed.length === 0) return false;
        const decision = await mayMail(tx, secrets, {
          emailKey: request.emailKey,
          listId: request.listId,
          kind: 'reminder',
          subscriptionStatus: 'pending',
          confirmExpiresAt: request.confirmExpiresAt,
          now,
        });
        if (!decision.allowed) return false;
        await tx.db
          .insert(outbox)
          .values({ id: randomUUID(), kind: 'reminder', subscriptionId: request.id, status: 'queued', createdAt: now });
        await addDailyCounts(tx, [{ day: dayOf(now), listId: request.listId, reminders: 1 }]);
        return true;
      });
      if (wrote) written += 1;
    }
  }
}
