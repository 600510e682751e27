import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import type { UnsubscribeSource } from '../changes/index.js';
import { mayMail } from '../policy/index.js';

export interface GoodbyeRequest {
  /** The subscription the opt-out just ended (it must have been confirmed until then). */
  subscriptionId: number;
  listId: number;
  /** The list's `goodbyeEmail` setting. */
  goodbyeEmail: boolean;
  emailKey: string;
  /** The opt-out's instant: the subscription's new unsubscribedAt, and the row's createdAt. */
  unsubscribedAt: number;
  /** Where the opt-out was made: only a person's own deliberate choice on a page gets a goodbye. */
  source: UnsubscribeSource;
}

/**
 * Writes the goodbye mail of an opt-out, in the opt-out's own transaction: for a list with
 * `goodbyeEmail`, an opt-out made on the unsubscribe page or in the preference centre (not
 * RFC 8058 one-click, which a mail client may send for the person), once. The caller calls it
 * only where its opt-out ended a confirmed subscription, so a second click, a "not me", a
 * bounce, a complaint, an admin block or an erasure never gets here. mayMail is asked first,
 * as at every send (it allows one goodbye per subscription per GOODBYE_INTERVAL_MS); the worker
 * asks again (and drops the row outside GOODBYE_WINDOW_MS).
 * Returns the outbox row to hand to the relay after the commit, or null.
 */
export async function queueGoodbye(tx: Scope, secrets: readonly string[], request: GoodbyeRequest): Promise<string | null> {
  if (!request.goodbyeEmail || (request.source !== 'page' && request.source !== 'preferences')) return null;
  // An earlier opt-out's goodbye that no worker has tried yet can never go now (it is no longer
  // that opt-out's moment): it gives way to this one, so a quick leave-join-leave still gets one
  // goodbye. The condition makes it safe against a worker taking it this instant: of its attempt
  // count and this drop, the first to commit wins, and one already tried counts as sent (mayMail).
  const { outbox } = tx.tables;
  await tx.db
    .update(outbox)
    .set({ status: 'dropped', lastError: 'goodbye_superseded' })
    .where(
      and(
        eq(outbox.subscriptionId, request.subscriptionId),
        eq(outbox.kind, 'goodbye'),
        eq(outbox.status, 'queued'),
        eq(outbox.attempts, 0),
      ),
    );
  const decision = await mayMail(tx, secrets, {
    emailKey: request.emailKey,
    listId: request.listId,
    kind: 'goodbye',
    subscriptionStatus: 'unsubscribed',
    confirmExpiresAt: null,
    goodbye: { subscriptionId: request.subscriptionId, unsubscribedAt: request.unsubscribedAt, requestedAt: request.unsubscribedAt },
    now: request.unsubscribedAt,
  });
  if (!decision.allowed) return null;
  const id = randomUUID();
  await tx.db
    .insert(tx.tables.outbox)
    .values({ id, kind: 'goodbye', subscriptionId: request.subscriptionId, status: 'queued', createdAt: request.unsubscribedAt });
  return id;
}
