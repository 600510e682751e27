import { asc, desc, eq } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import { decodeLocalizedText } from '../../platform/locales/localizedText.js';
import { parseAddress } from '../../platform/mail/address.js';
import { minimisationDueAt } from './minimise.js';
import { entriesOfAddress } from '../policy/index.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * Everything known about one address: its subscriptions, its consent trail (who consented to
 * what, when, from where), the suppression entries that block it, found by keyed hash, and the
 * mail sent to it (the outbox rows and, once pruned from it, their mail history; newest first).
 */
export async function contactRecord(
  scope: Scope,
  secrets: readonly string[],
  email: string,
  /** OPTOUT_RETENTION: with it, the record says when the contact will be minimised (`minimizesAt`). */
  options: { optOutRetentionMs?: number } = {},
) {
  const parsed = parseAddress(email);
  if (!parsed.ok) throw new AppError(400, 'invalid_email', parsed.message);
  const { emailKey } = parsed.address;
  const { consentEvents, consentTexts, contacts, lists, mailHistory, outbox, subscriptions, suppressions } = scope.tables;
  const { db } = scope;

  const [contact] = await db.select().from(contacts).where(eq(contacts.emailKey, emailKey));
  const blocking = await db
    .select({
      id: suppressions.id,
      reason: suppressions.reason,
      list: lists.slug,
      source: suppressions.source,
      createdAt: suppressions.createdAt,
    })
    .from(suppressions)
    .leftJoin(lists, eq(lists.id, suppressions.listId))
    .where(entriesOfAddress(scope.tables, secrets, emailKey))
    .orderBy(asc(suppressions.createdAt), asc(suppressions.id));
  // After an erasure only a hashed `erased` entry is left: nothing is known about the person any more.
  if (!contact && blocking.every((s) => s.reason === 'erased'))
    throw new AppError(404, 'unknown_contact', 'There is no contact with this address.');

  const subscribed = contact
    ? await db
        .select({
          list: lists.slug,
          listName: lists.name,
          status: subscriptions.status,
          createdAt: subscriptions.createdAt,
          confirmedAt: subscriptions.confirmedAt,
          unsubscribedAt: subscriptions.unsubscribedAt,
        })
        .from(subscriptions)
        .innerJoin(lists, eq(lists.id, subscriptions.listId))
        .where(eq(subscriptions.contactId, contact.id))
        .orderBy(asc(subscriptions.id))
    : [];
  const trail = contact
    ? await db
        .select({
          action: consentEvents.action,
          list: lists.slug,
          at: consentEvents.at,
          ip: consentEvents.ip,
          userAgent: consentEvents.userAgent,
          source: consentEvents.source,
          detail: consentEvents.detail,
          consentVersion: consentEvents.consentVersion,
          consentText: consentTexts.text,
        })
        .from(consentEvents)
        .leftJoin(lists, eq(lists.id, consentEvents.listId))
        .leftJoin(consentTexts, eq(consentTexts.version, consentEvents.consentVersion))
        .where(eq(consentEvents.contactId, contact.id))
        .orderBy(asc(consentEvents.at), asc(consentEvents.id))
    : [];

  // The mail history, newest first: what was sent, when, and whether it was delivered, failed or dropped ("I never got it").
  // The outbox holds the recent messages; those pruned from it (OUTBOX_RETENTION) are in mail_history.
  const live = contact
    ? await db
        .select({
          kind: outbox.kind,
          list: lists.slug,
          status: outbox.status,
          createdAt: outbox.createdAt,
          sentAt: outbox.sentAt,
          lastError: outbox.lastError,
        })
        .from(subscriptions)
        .innerJoin(outbox, eq(outbox.subscriptionId, subscriptions.id))
        .innerJoin(lists, eq(lists.id, subscriptions.listId))
        .where(eq(subscriptions.contactId, contact.id))
        .orderBy(desc(outbox.createdAt), desc(outbox.id))
    : [];
  const pruned = contact
    ? await db
        .select({
          kind: mailHistory.kind,
          list: lists.slug,
          status: mailHistory.status,
          createdAt: mailHistory.createdAt,
          sentAt: mailHistory.sentAt,
          lastError: mailHistory.reason,
        })
        .from(subscriptions)
        .innerJoin(mailHistory, eq(mailHistory.subscriptionId, subscriptions.id))
        .innerJoin(lists, eq(lists.id, subscriptions.listId))
        .where(eq(subscriptions.contactId, contact.id))
        .orderBy(desc(mailHistory.createdAt), desc(mailHistory.id))
    : [];
  // Each newest first already; merged by time (a stable sort keeps each one's order within a millisecond).
  const mailed = [...live, ...pruned].sort((a, b) => b.createdAt - a.createdAt);

  return {
    email: contact?.email ?? emailKey,
    name: contact?.name ?? null,
    locale: contact?.locale ?? null,
    minimizedAt: iso(contact?.minimizedAt ?? null),
    // When the data no opt-out needs goes (minimise.ts); null while a subscription is active.
    minimizesAt: iso(
      contact && options.optOutRetentionMs !== undefined
        ? await minimisationDueAt(scope, secrets, contact.id, options.optOutRetentionMs)
        : null,
    ),
    createdAt: iso(contact?.createdAt ?? null),
    subscriptions: subscribed.map((s) => ({
      ...s,
      createdAt: iso(s.createdAt),
      confirmedAt: iso(s.confirmedAt),
      unsubscribedAt: iso(s.unsubscribedAt),
    })),
    // The exact words agreed to: the statement's every locale as written (the event keeps no locale).
    consent: trail.map((e) => ({ ...e, at: iso(e.at), consentText: e.consentText === null ? null : decodeLocalizedText(e.consentText) })),
    suppressions: blocking.map((s) => ({ ...s, createdAt: iso(s.createdAt) })),
    messages: mailed.map((m) => ({ ...m, createdAt: iso(m.createdAt), sentAt: iso(m.sentAt) })),
  };
}

/** What contactRecord answers (the admin page and API show it). */
export type ContactRecord = Awaited<ReturnType<typeof contactRecord>>;
