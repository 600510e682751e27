import { and, asc, eq, inArray, isNull, ne, or } from 'drizzle-orm';
import type { Database, Row, Scope } from '../../platform/db/database.js';
import type { SubscriptionStatus, SuppressionReason } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { recordChanges } from '../changes/index.js';
import { recordConsent, type RequestOrigin } from '../policy/index.js';
import { queueGoodbye } from '../optout/index.js';
import { lockAddressOfSubscription, subscriptionIdFromToken } from '../signup/index.js';
import { domainOf } from '../../platform/mail/address.js';
import { mayMail } from '../policy/index.js';
import { entriesOfAddress, suppressAddress } from '../policy/index.js';
import { currentConsentStatement, type ConsentStatement } from '../consent/index.js';

/** Entries the person made themselves, which the preference centre may undo; every other reason is a block. */
const OWN_OPT_OUT: SuppressionReason = 'unsubscribed';

/** One list on the preference page. */
export interface PreferenceList {
  list: Row<'lists'>;
  /** The person's subscription state, or 'none' when they never were on it. */
  state: SubscriptionStatus | 'none';
  /** A bounce, complaint or admin entry for this list (or every list): the box cannot be ticked here. */
  blockedBy: SuppressionReason | null;
  /** The list's current consent statement, shown beside a box of its own to join it; null: none written. */
  statement: ConsentStatement | null;
}

/** What the preference page shows: the contact, the lists, and a block over the whole address. */
export interface PreferenceView {
  contact: Row<'contacts'>;
  lists: PreferenceList[];
  /** A block of every list (bounce, complaint, admin): explained, and not liftable here. */
  addressBlockedBy: SuppressionReason | null;
  /** Whether the person opted out of every list themselves (they may opt back in here). */
  optedOutOfAll: boolean;
}

/** The contact a preference link names (it names one of their subscriptions); 404 once erased. */
export async function contactOfLink(scope: Scope, subscriptionId: number): Promise<Row<'contacts'>> {
  const { contacts, subscriptions } = scope.tables;
  const [row] = await scope.db
    .select({ contact: contacts })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .where(eq(subscriptions.id, subscriptionId));
  if (!row) throw new AppError(404, 'unknown_subscription', 'This subscription no longer exists: this address receives nothing from us.');
  return row.contact;
}

/** The subscription id a preference link's token names (signed, no expiry). */
export function preferenceLinkSubscription(secrets: readonly string[], token: unknown): number {
  return subscriptionIdFromToken(secrets, token, 'preferences');
}

async function readView(scope: Scope, secrets: readonly string[], contact: Row<'contacts'>): Promise<PreferenceView> {
  const { lists, subscriptions, suppressions } = scope.tables;
  const mine = await scope.db.select().from(subscriptions).where(eq(subscriptions.contactId, contact.id));
  const listIds = mine.map((s) => s.listId);
  const shown = await scope.db
    .select()
    .from(lists)
    .where(or(and(eq(lists.public, true), isNull(lists.archivedAt)), listIds.length > 0 ? inArray(lists.id, listIds) : undefined))
    .orderBy(asc(lists.name), asc(lists.id));
  const entries = await scope.db
    .select({ listId: suppressions.listId, reason: suppressions.reason })
    .from(suppressions)
    .where(entriesOfAddress(scope.tables, secrets, contact.emailKey));
  const addressBlockedBy = entries.find((e) => e.listId === null && e.reason !== OWN_OPT_OUT)?.reason ?? null;
  const statements = await Promise.all(shown.map((list) => currentConsentStatement(scope, list)));
  return {
    contact,
    addressBlockedBy,
    optedOutOfAll: entries.some((e) => e.listId === null && e.reason === OWN_OPT_OUT),
    lists: shown.map((list, i) => ({
      list,
      state: mine.find((s) => s.listId === list.id)?.status ?? 'none',
      blockedBy: addressBlockedBy ?? entries.find((e) => e.listId === list.id && e.reason !== OWN_OPT_OUT)?.reason ?? null,
      statement: statements[i] ?? null,
    })),
  };
}

/** Reads the preference page of a link; changes nothing (GET must be safe). */
export async function preferencesView(scope: Scope, secrets: readonly string[], token: unknown): Promise<PreferenceView> {
  return readView(scope, secrets, await contactOfLink(scope, preferenceLinkSubscription(secrets, token)));
}

export interface PreferenceChange {
  subscribed: Row<'lists'>[];
  unsubscribed: Row<'lists'>[];
  /** Lists ticked that a bounce, complaint or admin entry keeps closed: nothing changed for them. */
  refused: Row<'lists'>[];
  /** Lists ticked to join while this link may join no more for now (its rate limit): nothing changed for them. */
  held: Row<'lists'>[];
  /** Lists with `requireConsent` ticked without the box of their consent statement: not joined. */
  needsConsent: Row<'lists'>[];
  /** "Unsubscribe from everything" was pressed. */
  all: boolean;
  view: PreferenceView;
  /** Goodbye mails written for the lists left (lists with `goodbyeEmail`), for the relay after the commit. */
  outboxIds: string[];
}

const SOURCE = 'preference centre';

/** The preference form as posted: the slugs ticked, or "unsubscribe from everything". */
export interface PreferenceRequest {
  token: unknown;
  wanted: readonly string[];
  all: boolean;
  origin: RequestOrigin;
  /** false: this link joined lists too often lately; lists ticked to join are `held`, leaving is done as always. */
  mayJoin?: boolean;
  /** The consent statements whose box was ticked: their versions (each names its list). */
  consents?: readonly string[];
}

/**
 * The statement version agreed to for each list, from the ticked boxes. A version that is no
 * statement of a list on the page is a forged or foreign form: `400 unknown_consent_version`.
 * An older version of a list stays valid: the page the person read showed those words.
 */
async function agreedVersions(scope: Scope, view: PreferenceView, given: readonly string[]): Promise<Map<number, string>> {
  const agreed = new Map<number, string>();
  if (given.length === 0) return agreed;
  const { consentTexts } = scope.tables;
  const rows = await scope.db
    .select({ version: consentTexts.version, listId: consentTexts.listId })
    .from(consentTexts)
    .where(inArray(consentTexts.version, [...new Set(given)]));
  const shown = new Map(view.lists.map(({ list }) => [list.id, list]));
  for (const version of new Set(given)) {
    const row = rows.find((r) => r.version === version);
    if (!row || !shown.has(row.listId))
      throw new AppError(400, 'unknown_consent_version', 'A consent box of this form names no statement of its lists: reload the page.');
    // Of two versions of one list (two pages open), the current one.
    if (!agreed.has(row.listId) || version === shown.get(row.listId)!.consentVersion) agreed.set(row.listId, version);
  }
  return agreed;
}

/** Lists this form would join: ticked, not confirmed, and neither blocked nor archived. */
export function joinsOf(view: PreferenceView, wanted: readonly string[]): Row<'lists'>[] {
  const ticked = new Set(wanted);
  return view.lists
    .filter(
      ({ list, state, blockedBy }) => ticked.has(list.slug) && state !== 'confirmed' && blockedBy === null && list.archivedAt === null,
    )
    .map(({ list }) => list);
}

/**
 * Applies the preference form: the lists ticked (`wanted`, slugs) against the person's states.
 * - A list unticked that was confirmed or pending: unsubscribed, with a consent event and that
 *   list's opt-out entry (tied to the subscription it ended, as a link's opt-out is), and the
 *   list's goodbye mail where it sends one (at most one per subscription per 24 hours).
 * - A list ticked that was not confirmed: confirmed at once (the link proves the mailbox), with a
 *   consent event carrying the consent statement whose box was ticked (`consents`), or none. A
 *   list with `requireConsent` is not joined without it (`needsConsent`), as the signup form
 *   refuses. The person's own opt-out of that list is lifted; an opt-out of every list gives way
 *   to one per other list, so the rest stay closed. A bounce, complaint or admin entry is never
 *   lifted here: the list is `refused`. With `mayJoin` false (the link's limit), it is `held`.
 * - `all`: every subscription ends and the address is opted out of every list.
 * One transaction; only lists shown on the page can change.
 */
export async function applyPreferences(
  database: Database,
  secrets: readonly string[],
  request: PreferenceRequest,
  now = Date.now(),
): Promise<PreferenceChange> {
  const subscriptionId = preferenceLinkSubscription(secrets, request.token);
  return database.transaction(async (tx) => {
    const { lists, subscriptions, suppressions } = tx.tables;
    await lockAddressOfSubscription(tx, subscriptionId);
    const contact = await contactOfLink(tx, subscriptionId);
    const view = await readView(tx, secrets, contact);
    const change: PreferenceChange = {
      subscribed: [],
      unsubscribed: [],
      refused: [],
      held: [],
      needsConsent: [],
      all: request.all,
      view,
      outboxIds: [],
    };
    const agreed = await agreedVersions(tx, view, request.all ? [] : (request.consents ?? []));
    const wanted = new Set(request.all ? [] : request.wanted);
    const ofAddress = entriesOfAddress(tx.tables, secrets, contact.emailKey);
    const domain = domainOf(contact.emailKey);

    for (const { list, state, blockedBy } of view.lists) {
      const ticked = wanted.has(list.slug);
      if (!ticked && (state === 'confirmed' || state === 'pending')) {
        const [ended] = await tx.db
          .update(subscriptions)
          .set({ status: 'unsubscribed', unsubscribedAt: now, confirmExpiresAt: null, pendingName: null, endedByLink: null })
          .where(and(eq(subscriptions.contactId, contact.id), eq(subscriptions.listId, list.id)))
          .returning({ id: subscriptions.id });
        await recordConsent(tx, {
          contactId: contact.id,
          listId: list.id,
          action: 'unsubscribed',
          at: now,
          origin: request.origin,
          detail: request.all ? `${SOURCE}: every list` : SOURCE,
        });
        if (!request.all) {
          // Tied to the subscription it ended, as a link's opt-out is: the goodbye mail below is
          // this opt-out's own (mayMail's one exception), and that subscription's link may undo it.
          await suppressAddress(tx, secrets, {
            emailKey: contact.emailKey,
            domain,
            listId: list.id,
            reason: 'unsubscribed',
            source: SOURCE,
            at: now,
            createdByLink: ended?.id,
          });
          if (state === 'confirmed' && ended) {
            await recordChanges(tx, [
              { type: 'subscription.unsubscribed', email: contact.emailKey, listId: list.id, source: 'preferences', at: now },
            ]);
            const goodbye = await queueGoodbye(tx, secrets, {
              subscriptionId: ended.id,
              listId: list.id,
              goodbyeEmail: list.goodbyeEmail,
              emailKey: contact.emailKey,
              unsubscribedAt: now,
              source: 'preferences',
            });
            if (goodbye) change.outboxIds.push(goodbye);
          }
        }
        change.unsubscribed.push(list);
      } else if (ticked && state !== 'confirmed') {
        if (blockedBy !== null || list.archivedAt !== null) {
          change.refused.push(list);
          continue;
        }
        // As the signup form: a list that requires consent is joined only with its statement's box ticked.
        if (list.requireConsent && !agreed.has(list.id)) {
          change.needsConsent.push(list);
          continue;
        }
        if (request.mayJoin === false) {
          change.held.push(list);
          continue;
        }
        change.subscribed.push(list);
      }
    }

    if (change.subscribed.length > 0) {
      const opening = new Set(change.subscribed.map((l) => l.id));
      // The person's own opt-out of every list keeps covering every list they did not tick now.
      if (view.optedOutOfAll) {
        const others = (await tx.db.select({ id: lists.id }).from(lists)).filter((l) => !opening.has(l.id));
        for (const other of others)
          await suppressAddress(tx, secrets, {
            emailKey: contact.emailKey,
            domain,
            listId: other.id,
            reason: 'unsubscribed',
            source: SOURCE,
            at: now,
          });
        await tx.db.delete(suppressions).where(and(ofAddress, isNull(suppressions.listId), eq(suppressions.reason, OWN_OPT_OUT)));
      }
      await tx.db
        .delete(suppressions)
        .where(and(ofAddress, eq(suppressions.reason, OWN_OPT_OUT), inArray(suppressions.listId, [...opening])));
      for (const list of change.subscribed) {
        // The one rule on mailing has the last word: whatever still blocks keeps the list closed.
        const decision = await mayMail(tx, secrets, {
          emailKey: contact.emailKey,
          listId: list.id,
          kind: 'welcome',
          subscriptionStatus: 'confirmed',
          confirmExpiresAt: null,
          now,
        });
        if (!decision.allowed)
          throw new AppError(409, 'address_blocked', 'This address cannot be subscribed from here. Please contact us.');
        const [existing] = await tx.db
          .select({ id: subscriptions.id })
          .from(subscriptions)
          .where(and(eq(subscriptions.contactId, contact.id), eq(subscriptions.listId, list.id)));
        if (existing) {
          await tx.db
            .update(subscriptions)
            .set({
              status: 'confirmed',
              confirmedAt: now,
              unsubscribedAt: null,
              confirmExpiresAt: null,
              pendingName: null,
              endedByLink: null,
            })
            .where(eq(subscriptions.id, existing.id));
        } else {
          await tx.db
            .insert(subscriptions)
            .values({ contactId: contact.id, listId: list.id, status: 'confirmed', createdAt: now, confirmedAt: now });
        }
        await recordConsent(tx, {
          contactId: contact.id,
          listId: list.id,
          action: 'confirmed',
          at: now,
          origin: request.origin,
          detail: SOURCE,
          // The words the person ticked, as shown to them; none when the box was left empty.
          consentVersion: agreed.get(list.id) ?? null,
        });
        await recordChanges(tx, [
          { type: 'subscription.confirmed', email: contact.emailKey, listId: list.id, locale: contact.locale, at: now },
        ]);
      }
    }

    if (request.all) {
      // Subscriptions of lists no longer shown (archived) end too: "everything" means everything.
      const rest = await tx.db
        .select()
        .from(subscriptions)
        .where(and(eq(subscriptions.contactId, contact.id), ne(subscriptions.status, 'unsubscribed')));
      for (const s of rest) {
        await tx.db
          .update(subscriptions)
          .set({ status: 'unsubscribed', unsubscribedAt: now, confirmExpiresAt: null, pendingName: null, endedByLink: null })
          .where(eq(subscriptions.id, s.id));
        await recordConsent(tx, {
          contactId: contact.id,
          listId: s.listId,
          action: 'unsubscribed',
          at: now,
          origin: request.origin,
          detail: `${SOURCE}: every list`,
        });
      }
      await suppressAddress(tx, secrets, {
        emailKey: contact.emailKey,
        domain,
        listId: null,
        reason: 'unsubscribed',
        source: `${SOURCE} (all lists)`,
        at: now,
      });
      await recordChanges(tx, [
        { type: 'subscription.unsubscribed', email: contact.emailKey, listId: null, source: 'preferences', at: now },
      ]);
    }
    change.view = await readView(tx, secrets, contact);
    return change;
  });
}
