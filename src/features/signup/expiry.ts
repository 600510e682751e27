import { and, asc, eq, inArray, lt, notExists, sql } from 'drizzle-orm';
import { forUpdate, type Database, type Scope } from '../../platform/db/database.js';
import { recordConsent } from '../policy/index.js';
import { entriesOfAddress } from '../policy/index.js';

/** Rows per transaction: short write locks, so signups are never held up for long. */
const BATCH = 500;

/**
 * Advisory lock keys (two-int form, apart from the one-bigint keys used elsewhere) held by
 * each batch of the sweep on PostgreSQL: "optn", "expy".
 */
const SWEEP_LOCK = [0x6f70746e, 0x65787079] as const;

/**
 * PostgreSQL: whether this transaction got the sweep's lock. The sweep runs in one process at
 * a time: another process's sweep, finding the lock taken, stops and leaves the work to it.
 * SQLite: always, since BEGIN IMMEDIATE already made this transaction the file's only writer.
 */
async function holdsSweepLock(tx: Scope): Promise<boolean> {
  if (tx.dialect !== 'postgresql') return true;
  const result = await tx.db.execute<{ locked: boolean }>(
    sql`select pg_try_advisory_xact_lock(${SWEEP_LOCK[0]}, ${SWEEP_LOCK[1]}) as locked`,
  );
  return result.rows[0]?.locked === true;
}

/** Whether any entry, for any list, names this address (the contact then stays: it explains the entry). */
async function isSuppressedAnywhere(scope: Scope, secrets: readonly string[], emailKey: string): Promise<boolean> {
  const { suppressions } = scope.tables;
  const [entry] = await scope.db
    .select({ id: suppressions.id })
    .from(suppressions)
    .where(entriesOfAddress(scope.tables, secrets, emailKey))
    .limit(1);
  return entry !== undefined;
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
export async function deleteExpiredRequests(database: Database, secrets: readonly string[], now = Date.now()): Promise<ExpiryOutcome> {
  const outcome: ExpiryOutcome = { subscriptions: 0, contacts: 0 };
  for (;;) {
    const done = await database.transaction(async (tx) => {
      const { consentEvents, contacts, outbox, subscriptions } = tx.tables;
      if (!(await holdsSweepLock(tx))) return true;
      // Locked on PostgreSQL: a confirmation racing the sweep either commits first (the row is
      // then re-read, no longer pending, and skipped) or waits and then finds the row gone.
      const expired = await forUpdate(
        tx,
        tx.db
          .select({ id: subscriptions.id, contactId: subscriptions.contactId, listId: subscriptions.listId })
          .from(subscriptions)
          .where(and(eq(subscriptions.status, 'pending'), lt(subscriptions.confirmExpiresAt, now)))
          .limit(BATCH),
      );
      if (expired.length === 0) return true;
      const ids = expired.map((s) => s.id);
      await tx.db.delete(outbox).where(inArray(outbox.subscriptionId, ids));
      await tx.db.delete(subscriptions).where(inArray(subscriptions.id, ids));
      for (const s of expired) await recordConsent(tx, { contactId: null, listId: s.listId, action: 'confirmation_expired', at: now });
      outcome.subscriptions += expired.length;

      const contactIds = [...new Set(expired.map((s) => s.contactId))];
      // PostgreSQL: lock the contacts first, then look for what still hangs on them in a
      // statement of its own, which sees whatever a signup committed while the lock was awaited
      // (a signup adding a subscription to one of them holds it off until then); otherwise the
      // cascade would delete its new subscription with the contact.
      await forUpdate(
        tx,
        tx.db.select({ id: contacts.id }).from(contacts).where(inArray(contacts.id, contactIds)).orderBy(asc(contacts.id)),
      );
      const unsubscribed = await tx.db
        .select({ id: contacts.id, emailKey: contacts.emailKey })
        .from(contacts)
        .where(
          and(
            inArray(contacts.id, contactIds),
            notExists(tx.db.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.contactId, contacts.id))),
          ),
        );
      const bare: typeof unsubscribed = [];
      for (const c of unsubscribed) if (!(await isSuppressedAnywhere(tx, secrets, c.emailKey))) bare.push(c);
      if (bare.length > 0) {
        const bareIds = bare.map((c) => c.id);
        // Their trail goes first: the foreign key's "set null" would be an UPDATE, which the log refuses.
        await tx.db.delete(consentEvents).where(inArray(consentEvents.contactId, bareIds));
        await tx.db.delete(contacts).where(inArray(contacts.id, bareIds));
        outcome.contacts += bare.length;
      }
      return expired.length < BATCH;
    });
    if (done) return outcome;
  }
}
