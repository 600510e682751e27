import { and, eq, inArray, lt, notExists } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { consentEvents, contacts, outbox, subscriptions, suppressions } from '../db/schema.js';
import { recordConsent } from './consent.js';
import { entriesOfAddress } from './suppression.js';

/** Rows per transaction: short write locks, so signups are never held up for long. */
const BATCH = 500;

/** Whether any entry, for any list, names this address (the contact then stays: it explains the entry). */
function isSuppressedAnywhere(db: Pick<Db, 'select'>, secrets: readonly string[], emailKey: string): boolean {
  return db.select({ id: suppressions.id }).from(suppressions).where(entriesOfAddress(secrets, emailKey)).limit(1).get() !== undefined;
}

export interface ExpiryOutcome {
  subscriptions: number;
  contacts: number;
}

/**
 * Data minimisation: a signup never confirmed is deleted once its confirmation link has
 * expired, and so is a contact left with nothing (no subscription, no suppression entry).
 * The consent log keeps only that a request for a list expired, not whose.
 */
export function deleteExpiredRequests(db: Db, secrets: readonly string[], now = Date.now()): ExpiryOutcome {
  const outcome: ExpiryOutcome = { subscriptions: 0, contacts: 0 };
  for (;;) {
    const done = writeTransaction(db, (tx) => {
      const expired = tx
        .select({ id: subscriptions.id, contactId: subscriptions.contactId, listId: subscriptions.listId })
        .from(subscriptions)
        .where(and(eq(subscriptions.status, 'pending'), lt(subscriptions.confirmExpiresAt, now)))
        .limit(BATCH)
        .all();
      if (expired.length === 0) return true;
      const ids = expired.map((s) => s.id);
      tx.delete(outbox).where(inArray(outbox.subscriptionId, ids)).run();
      tx.delete(subscriptions).where(inArray(subscriptions.id, ids)).run();
      for (const s of expired) recordConsent(tx, { contactId: null, listId: s.listId, action: 'confirmation_expired', at: now });
      outcome.subscriptions += expired.length;

      const contactIds = [...new Set(expired.map((s) => s.contactId))];
      const bare = tx
        .select({ id: contacts.id, emailKey: contacts.emailKey })
        .from(contacts)
        .where(and(inArray(contacts.id, contactIds), notExists(tx.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.contactId, contacts.id)))))
        .all()
        .filter((c) => !isSuppressedAnywhere(tx, secrets, c.emailKey));
      if (bare.length > 0) {
        const bareIds = bare.map((c) => c.id);
        // Their trail goes first: the foreign key's "set null" would be an UPDATE, which the log refuses.
        tx.delete(consentEvents).where(inArray(consentEvents.contactId, bareIds)).run();
        tx.delete(contacts).where(inArray(contacts.id, bareIds)).run();
        outcome.contacts += bare.length;
      }
      return expired.length < BATCH;
    });
    if (done) return outcome;
  }
}
