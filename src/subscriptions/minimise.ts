import { and, asc, eq, gt, inArray, isNull, max, notExists } from 'drizzle-orm';
import { forUpdate, type Database, type Scope } from '../db/database.js';
import { DEFAULT_LOCALE } from '../mail/locale.js';
import { recordConsent } from './consent.js';
import { anonymousReasonDetail } from './reasons.js';

/** Contacts per transaction: short write locks, so signups are never held up for long. */
const BATCH = 200;

/**
 * When a contact with no active subscription (none confirmed or pending: every list
 * unsubscribed, cancelled by "not me", or ended by a bounce or complaint) is minimised: the
 * retention after its last consent event. Null when it still has an active subscription or
 * is minimised already.
 */
export async function minimisationDueAt(scope: Scope, contactId: number, retentionMs: number): Promise<number | null> {
  const { consentEvents, contacts, subscriptions } = scope.tables;
  const [contact] = await scope.db.select({ minimizedAt: contacts.minimizedAt }).from(contacts).where(eq(contacts.id, contactId));
  if (!contact || contact.minimizedAt !== null) return null;
  const [active] = await scope.db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.contactId, contactId), inArray(subscriptions.status, ['confirmed', 'pending'])))
    .limit(1);
  if (active) return null;
  const [last] = await scope.db.select({ at: max(consentEvents.at) }).from(consentEvents).where(eq(consentEvents.contactId, contactId));
  return (last?.at ?? 0) + retentionMs;
}

/**
 * Data minimisation after the opt-out (OPTOUT_RETENTION): of a contact with no active
 * subscription since the retention, only what honours the opt-out stays.
 * - the name and the signup source go; the locale becomes the default one (the column is
 *   required; a page then speaks the browser's language);
 * - the consent trail keeps each event's action, list, date, detail and consent version, and
 *   loses IP, user agent and source. The log is append-only (no UPDATE, by trigger): the events
 *   are written again without those fields and the originals deleted, as an erasure deletes them;
 *   a reason for leaving loses its free text;
 * - suppression entries keep the address (admins review and export them); only an erasure
 *   reduces them to the keyed hash.
 * In batches, one transaction each; returns how many contacts were minimised.
 */
export async function minimiseOptedOut(database: Database, retentionMs: number, now = Date.now()): Promise<number> {
  let minimised = 0;
  // Contacts not yet due stay candidates: each batch starts past the previous one's last id.
  let after = 0;
  for (;;) {
    const done = await database.transaction(async (tx) => {
      const { consentEvents, contacts, subscriptions } = tx.tables;
      const noActive = notExists(
        tx.db
          .select({ id: subscriptions.id })
          .from(subscriptions)
          .where(and(eq(subscriptions.contactId, contacts.id), inArray(subscriptions.status, ['confirmed', 'pending']))),
      );
      // Locked on PostgreSQL: a signup or preference change racing the sweep commits first (and
      // the contact is active again, re-checked below) or waits until this batch is done.
      const candidates = await forUpdate(
        tx,
        tx.db.select({ id: contacts.id }).from(contacts).where(and(gt(contacts.id, after), isNull(contacts.minimizedAt), noActive)).orderBy(asc(contacts.id)).limit(BATCH),
      );
      if (candidates.length === 0) return true;
      const ids = candidates.map((c) => c.id);
      after = ids[ids.length - 1]!;
      const lastEvents = await tx.db
        .select({ contactId: consentEvents.contactId, at: max(consentEvents.at) })
        .from(consentEvents)
        .where(inArray(consentEvents.contactId, ids))
        .groupBy(consentEvents.contactId);
      const lastOf = new Map(lastEvents.map((e) => [e.contactId, e.at ?? 0]));
      const due = (await tx.db.select({ id: contacts.id }).from(contacts).where(and(inArray(contacts.id, ids), noActive)))
        .map((c) => c.id)
        .filter((id) => (lastOf.get(id) ?? 0) + retentionMs <= now);
      for (const contactId of due) {
        await tx.db.update(contacts).set({ name: null, locale: DEFAULT_LOCALE, minimizedAt: now }).where(eq(contacts.id, contactId));
        await tx.db.update(subscriptions).set({ pendingName: null }).where(eq(subscriptions.contactId, contactId));
        const trail = await tx.db.select().from(consentEvents).where(eq(consentEvents.contactId, contactId)).orderBy(asc(consentEvents.at), asc(consentEvents.id));
        await tx.db.delete(consentEvents).where(eq(consentEvents.contactId, contactId));
        for (const event of trail) {
          await recordConsent(tx, {
            contactId,
            listId: event.listId,
            action: event.action as Parameters<typeof recordConsent>[1]['action'],
            at: event.at,
            detail: (event.action === 'unsubscribe_reason' ? anonymousReasonDetail(event.detail) : event.detail) ?? undefined,
            consentVersion: event.consentVersion,
          });
        }
      }
      minimised += due.length;
      return candidates.length < BATCH;
    });
    if (done) return minimised;
  }
}
