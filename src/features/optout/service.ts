import { restoreSubscription } from '../signup/index.js';
import { and, eq, isNull, ne, or, sql } from 'drizzle-orm';
import type { Database, Scope } from '../../platform/db/database.js';
import type { SubscriptionStatus } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { recordChanges, type Change, type UnsubscribeSource } from '../changes/index.js';
import { recordConsent, type RequestOrigin } from '../policy/index.js';
import { linkClaims, lockAddresses, lockAddressOfSubscription, subscriptionIdFromToken } from '../signup/index.js';
import { verifyTestCopyToken, type TestCopyClaims } from '../../platform/http/tokens.js';
import { domainOf } from '../../platform/mail/address.js';
import { entriesOfAddress, suppressAddress } from '../policy/index.js';
import { queueGoodbye } from './goodbye.js';
import { broadcastOutboxId } from '../broadcasts/index.js';
import { listName } from '../../platform/locales/localizedText.js';
import { DEFAULT_LOCALE, isLocale } from '../../platform/locales/locale.js';

export type UnsubscribeScope = 'list' | 'all';

/** What the unsubscribe page needs to know about the subscription a link names. */
export interface UnsubscribeTarget {
  subscriptionId: number;
  status: SubscriptionStatus;
  listName: string;
  locale: string;
  /** The address the link is for, for the page to name (masked). */
  email: string;
}

async function loadTarget(scope: Scope, subscriptionId: number) {
  const { contacts, lists, subscriptions } = scope.tables;
  const [row] = await scope.db
    .select({ subscription: subscriptions, contact: contacts, list: lists })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .innerJoin(lists, eq(lists.id, subscriptions.listId))
    .where(eq(subscriptions.id, subscriptionId));
  // An erased contact takes its subscriptions with it; its address stays suppressed by hash.
  if (!row) throw new AppError(404, 'unknown_subscription', 'This subscription no longer exists: this address receives nothing from us.');
  // The list as the person reads it: in their language.
  return { ...row, listName: listName(row.list, isLocale(row.contact.locale) ? row.contact.locale : DEFAULT_LOCALE) };
}

/** Reads the subscription an unsubscribe link names; changes nothing (GET must be safe). */
export async function unsubscribeTarget(scope: Scope, secrets: readonly string[], token: unknown): Promise<UnsubscribeTarget> {
  const { subscription, contact, listName } = await loadTarget(scope, subscriptionIdFromToken(secrets, token, 'unsubscribe'));
  return { subscriptionId: subscription.id, status: subscription.status, listName, locale: contact.locale, email: contact.email };
}

export interface UnsubscribeOutcome extends UnsubscribeTarget {
  /** true when the link was for a pending subscription: "this was not me". */
  notMe: boolean;
  scope: UnsubscribeScope;
  /** The goodbye mail this opt-out wrote (lists with goodbyeEmail, from the page), to hand to the relay. */
  outboxId: string | null;
}

/**
 * Opts an address out, at once and idempotently. A confirmed subscription becomes
 * `unsubscribed` and the address is suppressed for its list ("all": for every list, and every
 * subscription of the contact ends). A pending one is the "not me" case: the request is
 * cancelled, so its confirm link stops working, and the address is suppressed for every list.
 * What this link ended and the entry it created are marked with its subscription, so that its
 * resubscribe undoes exactly that and nothing another opt-out did.
 */
export async function unsubscribe(
  database: Database,
  secrets: readonly string[],
  request: { token: unknown; scope: UnsubscribeScope; origin: RequestOrigin; source: UnsubscribeSource },
  now = Date.now(),
): Promise<UnsubscribeOutcome> {
  const { subscriptionId, broadcastId } = linkClaims(secrets, request.token, 'unsubscribe', now);
  return database.transaction(async (tx) => {
    const { broadcasts, mailHistory, outbox, subscriptions } = tx.tables;
    // Two clicks at once (or links of one contact in two processes) take turns: the second reads what the first ended.
    await lockAddressOfSubscription(tx, subscriptionId);
    const { subscription, contact, list, listName } = await loadTarget(tx, subscriptionId);
    const notMe = subscription.status === 'pending';
    const scope: UnsubscribeScope = notMe ? 'all' : request.scope;
    const ending =
      scope === 'all'
        ? await tx.db
            .select()
            .from(subscriptions)
            .where(and(eq(subscriptions.contactId, contact.id), ne(subscriptions.status, 'unsubscribed')))
        : subscription.status === 'unsubscribed'
          ? []
          : [subscription];
    for (const ended of ending) {
      await tx.db
        .update(subscriptions)
        .set({ status: 'unsubscribed', unsubscribedAt: now, confirmExpiresAt: null, pendingName: null, endedByLink: subscriptionId })
        .where(eq(subscriptions.id, ended.id));
      await recordConsent(tx, {
        contactId: contact.id,
        listId: ended.listId,
        action: ended.status === 'pending' && notMe ? 'not_me' : 'unsubscribed',
        at: now,
        origin: request.origin,
        detail:
          [
            scope === 'all' ? 'every list' : undefined,
            broadcastId !== undefined && ended.id === subscription.id ? `broadcast ${broadcastId}` : undefined,
          ]
            .filter(Boolean)
            .join('; ') || undefined,
      });
    }
    // A broadcast's own link that ended its own subscription counts for that broadcast, once per
    // recipient: the recipient's row of it is marked, so clicking again after a resubscribe (or
    // a second click, which ends nothing) never counts twice, and `unsubscribed` stays within `total`.
    if (broadcastId !== undefined && ending.some((ended) => ended.id === subscription.id && ended.status === 'confirmed')) {
      const markedInOutbox = await tx.db
        .update(outbox)
        .set({ optedOutAt: now })
        .where(
          and(
            eq(outbox.id, broadcastOutboxId(broadcastId, subscription.id)),
            eq(outbox.broadcastId, broadcastId),
            isNull(outbox.optedOutAt),
          ),
        )
        .returning({ id: outbox.id });
      // A row pruned from the outbox since (OUTBOX_RETENTION) is marked in its mail history instead.
      const marked =
        markedInOutbox.length > 0 ||
        (
          await tx.db
            .update(mailHistory)
            .set({ optedOutAt: now })
            .where(
              and(
                eq(mailHistory.subscriptionId, subscription.id),
                eq(mailHistory.broadcastId, broadcastId),
                isNull(mailHistory.optedOutAt),
              ),
            )
            .returning({ id: mailHistory.id })
        ).length > 0;
      if (marked)
        await tx.db
          .update(broadcasts)
          .set({ unsubscribed: sql`${broadcasts.unsubscribed} + 1` })
          .where(and(eq(broadcasts.id, broadcastId), eq(broadcasts.listId, subscription.listId)));
    }
    const entry = await suppressAddress(tx, secrets, {
      emailKey: contact.emailKey,
      domain: domainOf(contact.emailKey),
      listId: scope === 'all' ? null : subscription.listId,
      reason: 'unsubscribed',
      source: notMe ? 'not me (confirmation email)' : scope === 'all' ? 'unsubscribe link (all lists)' : 'unsubscribe link',
      at: now,
      createdByLink: subscriptionId,
    });
    // Clicking again after an admin lifted the entry opts out again; that is worth a line in the trail.
    if (entry.created && ending.length === 0) {
      await recordConsent(tx, {
        contactId: contact.id,
        listId: subscription.listId,
        action: 'unsubscribed',
        at: now,
        origin: request.origin,
      });
    }
    // "Not me" cancels a request that was never confirmed: no receiver holds that address for it.
    if (!notMe && (ending.length > 0 || entry.created)) {
      const change: Change = {
        type: 'subscription.unsubscribed',
        email: contact.emailKey,
        listId: scope === 'all' ? null : subscription.listId,
        source: request.source,
        at: now,
      };
      await recordChanges(tx, [change]);
    }
    // Only the opt-out that ended the link's own confirmed subscription says goodbye, once.
    const outboxId =
      subscription.status === 'confirmed'
        ? await queueGoodbye(tx, secrets, {
            subscriptionId,
            listId: subscription.listId,
            goodbyeEmail: list.goodbyeEmail,
            emailKey: contact.emailKey,
            unsubscribedAt: now,
            source: request.source,
          })
        : null;
    const status = (
      await tx.db.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, subscription.id))
    )[0]!.status;
    return { subscriptionId, status, listName, locale: contact.locale, email: contact.email, notMe, scope, outboxId };
  });
}

export interface ResubscribeOutcome extends UnsubscribeTarget {
  /** Confirmation emails written for subscriptions that had never been confirmed. */
  outboxIds: string[];
}

/**
 * Undoes an unsubscribe made by mistake. Only the holder of the same signed link can, so no
 * mail is needed to prove the address. It lifts only the entries this link's unsubscribe
 * created and restores only the subscriptions it ended (and the link's own): an opt-out made
 * from another link, a bounce, complaint or admin block still holds, and where one still covers
 * the link's own list the answer is `409 address_blocked` and nothing changes. A subscription
 * that was never confirmed goes back to pending and gets a new confirmation email rather than
 * skipping the double opt-in.
 */
export async function resubscribe(
  database: Database,
  secrets: readonly string[],
  request: { token: unknown; origin: RequestOrigin },
  now = Date.now(),
): Promise<ResubscribeOutcome> {
  const subscriptionId = subscriptionIdFromToken(secrets, request.token, 'unsubscribe', now);
  return database.transaction(async (tx) => {
    const { subscriptions, suppressions } = tx.tables;
    await lockAddressOfSubscription(tx, subscriptionId);
    const { subscription, contact, listName } = await loadTarget(tx, subscriptionId);
    const target = { subscriptionId, listName, locale: contact.locale, email: contact.email };
    if (subscription.status !== 'unsubscribed') return { ...target, status: subscription.status, outboxIds: [] };

    // Another opt-out landing on one of these entries locks it before taking it over (suppressAddresses):
    // this delete then waits and spares it, or deletes it first and that opt-out writes a new entry.
    await tx.db
      .delete(suppressions)
      .where(
        and(
          entriesOfAddress(tx.tables, secrets, contact.emailKey),
          eq(suppressions.reason, 'unsubscribed'),
          eq(suppressions.createdByLink, subscriptionId),
        ),
      );
    const undone = await tx.db
      .select()
      .from(subscriptions)
      .where(
        and(
          eq(subscriptions.contactId, contact.id),
          eq(subscriptions.status, 'unsubscribed'),
          or(eq(subscriptions.endedByLink, subscriptionId), eq(subscriptions.id, subscriptionId)),
        ),
      );
    const outboxIds: string[] = [];
    for (const restored of undone) {
      const outcome = await restoreSubscription(tx, secrets, { contact, subscription: restored, now, origin: request.origin });
      if (outcome === 'blocked' && restored.id === subscription.id) {
        throw new AppError(409, 'address_blocked', 'This address cannot be subscribed again from here. Please contact us.');
      }
      if (typeof outcome === 'string' && outcome !== 'blocked') outboxIds.push(outcome);
    }
    const status = (
      await tx.db.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, subscription.id))
    )[0]!.status;
    return { ...target, status, outboxIds };
  });
}

/** The address a broadcast test copy's link names, and its list: what its page shows. */
export interface TestCopyTarget {
  claims: TestCopyClaims;
  listId: number;
  listName: string;
  locale: string;
  /** The address the copy was sent to, for the page to name (masked). */
  email: string;
}

/**
 * The target of a test copy's unsubscribe link, or null when the token is not a test copy's
 * (then it is an ordinary link, or an invalid one, for the usual path to judge).
 */
export async function testCopyTarget(scope: Scope, secrets: readonly string[], token: unknown): Promise<TestCopyTarget | null> {
  const claims = verifyTestCopyToken(secrets, token);
  if (!claims) return null;
  const { broadcasts, contacts, lists } = scope.tables;
  const [row] = await scope.db
    .select({ list: lists })
    .from(broadcasts)
    .innerJoin(lists, eq(lists.id, broadcasts.listId))
    .where(eq(broadcasts.id, claims.broadcastId));
  // Broadcasts are never deleted; a token for none is not one we made.
  if (!row) throw new AppError(400, 'invalid_token', 'This link is not valid. Please use the link from your email as it is.');
  const [contact] = await scope.db.select({ locale: contacts.locale }).from(contacts).where(eq(contacts.emailKey, claims.emailKey));
  const locale = contact && isLocale(contact.locale) ? contact.locale : DEFAULT_LOCALE;
  return { claims, listId: row.list.id, listName: listName(row.list, locale), locale, email: claims.emailKey };
}

/**
 * The opt-out of a broadcast's test copy, sent to someone who is on no list (or only asked): it
 * suppresses the address it was sent to, for the broadcast's list ("all": every list), as the
 * person's own opt-out (`unsubscribed`, which they may undo by signing up and confirming again).
 * A contact's open subscriptions in that scope end, each in their consent trail; other systems
 * hear of it (`subscription.unsubscribed`) when it is new. Idempotent, never limited.
 */
export async function unsubscribeTestCopy(
  database: Database,
  secrets: readonly string[],
  target: TestCopyTarget,
  request: { scope: UnsubscribeScope; origin: RequestOrigin; source: UnsubscribeSource },
  now = Date.now(),
): Promise<void> {
  const { emailKey, broadcastId } = target.claims;
  const listId = request.scope === 'all' ? null : target.listId;
  const detail = `test copy of broadcast ${broadcastId}`;
  await database.transaction(async (tx) => {
    const { contacts, subscriptions } = tx.tables;
    await lockAddresses(tx, [emailKey]);
    const [contact] = await tx.db.select({ id: contacts.id }).from(contacts).where(eq(contacts.emailKey, emailKey));
    const ending = contact
      ? await tx.db
          .select()
          .from(subscriptions)
          .where(
            and(
              eq(subscriptions.contactId, contact.id),
              ne(subscriptions.status, 'unsubscribed'),
              listId === null ? undefined : eq(subscriptions.listId, listId),
            ),
          )
      : [];
    for (const ended of ending) {
      await tx.db
        .update(subscriptions)
        .set({ status: 'unsubscribed', unsubscribedAt: now, confirmExpiresAt: null, pendingName: null, endedByLink: null })
        .where(eq(subscriptions.id, ended.id));
      await recordConsent(tx, {
        contactId: contact!.id,
        listId: ended.listId,
        action: 'unsubscribed',
        at: now,
        origin: request.origin,
        detail,
      });
    }
    const entry = await suppressAddress(tx, secrets, {
      emailKey,
      domain: domainOf(emailKey),
      listId,
      reason: 'unsubscribed',
      source: detail,
      at: now,
    });
    if (contact && entry.created && ending.length === 0)
      await recordConsent(tx, { contactId: contact.id, listId, action: 'unsubscribed', at: now, origin: request.origin, detail });
    if (entry.created || ending.length > 0)
      await recordChanges(tx, [{ type: 'subscription.unsubscribed', email: emailKey, listId, source: request.source, at: now }]);
  });
}
