import { and, asc, eq, exists, gt, inArray, isNotNull, isNull, max, notExists, or } from 'drizzle-orm';
import { forUpdate, type Database, type Scope } from '../../platform/db/database.js';
import { DEFAULT_LOCALE } from '../../platform/locales/locale.js';
import { recordConsent } from '../policy/index.js';
import { anonymousReasonDetail } from '../optout/index.js';
import { entriesOfAddress, findSuppression } from '../policy/index.js';

/** Contacts per transaction: short write locks, so signups are never held up for long. */
const BATCH = 200;

/**
 * Since when a contact has had no active subscription, or null while it has one. Active: confirmed
 * or pending, and not blocked for its list by a suppression entry; so a contact whose every list
 * was unsubscribed, cancelled by "not me", bounced or complained has none. "Since": its last
 * consent event or suppression entry, whichever is later.
 */
async function inactiveSince(scope: Scope, secrets: readonly string[], contact: { id: number; emailKey: string }): Promise<number | null> {
  const { consentEvents, subscriptions, suppressions } = scope.tables;
  const open = await scope.db
    .select({ listId: subscriptions.listId })
    .from(subscriptions)
    .where(and(eq(subscriptions.contactId, contact.id), inArray(subscriptions.status, ['confirmed', 'pending'])));
  for (const { listId } of open) if (!(await findSuppression(scope, secrets, contact.emailKey, listId))) return null;
  const [last] = await scope.db
    .select({ at: max(consentEvents.at) })
    .from(consentEvents)
    .where(eq(consentEvents.contactId, contact.id));
  const [entry] = await scope.db
    .select({ at: max(suppressions.createdAt) })
    .from(suppressions)
    .where(entriesOfAddress(scope.tables, secrets, contact.emailKey));
  return Math.max(last?.at ?? 0, entry?.at ?? 0);
}

/** When the contact will be minimised (OPTOUT_RETENTION after it became inactive); null while active or once done. */
export async function minimisationDueAt(
  scope: Scope,
  secrets: readonly string[],
  contactId: number,
  retentionMs: number,
): Promise<number | null> {
  const { contacts } = scope.tables;
  const [contact] = await scope.db.select().from(contacts).where(eq(contacts.id, contactId));
  if (!contact || contact.minimizedAt !== null) return null;
  const since = await inactiveSince(scope, secrets, contact);
  return since === null ? null : since + retentionMs;
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
export async function minimiseOptedOut(
  database: Database,
  secrets: readonly string[],
  retentionMs: number,
  now = Date.now(),
): Promise<number> {
  let minimised = 0;
  // Contacts not yet due stay candidates: each batch starts past the previous one's last id.
  let after = 0;
  for (;;) {
    const done = await database.transaction(async (tx) => {
      const { consentEvents, contacts, subscriptions, suppressions } = tx.tables;
      // Candidates: no subscription confirmed or pending, or an address with a suppression entry
      // (which may block the ones that are); inactiveSince then decides for each.
      const maybeInactive = or(
        notExists(
          tx.db
            .select({ id: subscriptions.id })
            .from(subscriptions)
            .where(and(eq(subscriptions.contactId, contacts.id), inArray(subscriptions.status, ['confirmed', 'pending']))),
        ),
        exists(tx.db.select({ id: suppressions.id }).from(suppressions).where(eq(suppressions.email, contacts.emailKey))),
      );
      // Locked on PostgreSQL: a signup or preference change racing the sweep commits first (and
      // is seen by the checks below) or waits until this batch is done.
      const candidates = await forUpdate(
        tx,
        tx.db
          .select({ id: contacts.id, emailKey: contacts.emailKey })
          .from(contacts)
          .where(and(gt(contacts.id, after), isNull(contacts.minimizedAt), maybeInactive))
          .orderBy(asc(contacts.id))
          .limit(BATCH),
      );
      if (candidates.length === 0) return true;
      after = candidates[candidates.length - 1]!.id;
      const due: number[] = [];
      for (const candidate of candidates) {
        const since = await inactiveSince(tx, secrets, candidate);
        if (since !== null && since + retentionMs <= now) due.push(candidate.id);
      }
      for (const contactId of due) {
        await tx.db.update(contacts).set({ name: null, locale: DEFAULT_LOCALE, minimizedAt: now }).where(eq(contacts.id, contactId));
        await tx.db
          .update(subscriptions)
          .set({ pendingName: null })
          .where(and(eq(subscriptions.contactId, contactId), isNotNull(subscriptions.pendingName)));
        const trail = await tx.db
          .select()
          .from(consentEvents)
          .where(eq(consentEvents.contactId, contactId))
          .orderBy(asc(consentEvents.at), asc(consentEvents.id));
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
