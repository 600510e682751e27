import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { lists, outbox, subscriptions } from '../db/schema.js';
import { AppError } from '../errors.js';
import { recordConsent, type RequestOrigin } from './consent.js';
import { verifyToken, type TokenPurpose } from './tokens.js';

export interface ConfirmOutcome {
  listName: string;
  alreadyConfirmed: boolean;
  /** The welcome email's outbox row, written on the first confirmation only. */
  outboxId: string | null;
}

/** Checks a signed link's token and returns the subscription id it names, or a clear 4xx. */
export function subscriptionIdFromToken(secrets: readonly string[], token: unknown, purpose: TokenPurpose, now = Date.now()): number {
  if (typeof token !== 'string' || token === '') {
    throw new AppError(400, 'missing_token', 'This link is incomplete: it has no token.');
  }
  const check = verifyToken(secrets, token, purpose, now);
  if (check.ok) return check.claims.subscriptionId;
  if (check.reason === 'expired') {
    throw new AppError(410, 'expired_token', 'This link has expired. Please sign up again to get a new one.');
  }
  throw new AppError(400, 'invalid_token', 'This link is not valid. Please use the link from your email as it is.');
}

/**
 * Confirms a pending subscription: records the consent event and writes the welcome email to
 * the outbox in one transaction. Confirming again changes nothing and sends nothing.
 */
export function confirmSubscription(db: Db, secrets: readonly string[], token: unknown, origin: RequestOrigin, now = Date.now()): ConfirmOutcome {
  const subscriptionId = subscriptionIdFromToken(secrets, token, 'confirm', now);
  return writeTransaction(db, (tx) => {
    const row = tx
      .select({ subscription: subscriptions, listName: lists.name })
      .from(subscriptions)
      .innerJoin(lists, eq(lists.id, subscriptions.listId))
      .where(eq(subscriptions.id, subscriptionId))
      .get();
    if (!row) throw new AppError(404, 'unknown_subscription', 'This subscription no longer exists.');
    const { subscription, listName } = row;
    if (subscription.status === 'confirmed') return { listName, alreadyConfirmed: true, outboxId: null };
    if (subscription.status !== 'pending') {
      throw new AppError(409, 'subscription_closed', 'This subscription was cancelled. Please sign up again.');
    }
    tx.update(subscriptions)
      .set({ status: 'confirmed', confirmedAt: now, confirmExpiresAt: null })
      .where(eq(subscriptions.id, subscription.id))
      .run();
    recordConsent(tx, { contactId: subscription.contactId, listId: subscription.listId, action: 'confirmed', at: now, origin });
    const outboxId = randomUUID();
    tx.insert(outbox).values({ id: outboxId, kind: 'welcome', subscriptionId: subscription.id, status: 'queued', createdAt: now }).run();
    return { listName, alreadyConfirmed: false, outboxId };
  });
}
