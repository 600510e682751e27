import { randomUUID } from 'node:crypto';
import { and, eq, ne } from 'drizzle-orm';
import type { Database, Row, Scope } from '../../platform/db/database.js';
import type { SubscriptionStatus } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { recordChanges } from '../changes/index.js';
import { recordConsent, type RequestOrigin } from '../policy/index.js';
import { mayMail } from '../policy/index.js';
import { entriesOfAddress } from '../policy/index.js';
import { CONFIRM_TOKEN_TTL_MS } from '../../platform/http/tokens.js';
import { listName } from '../../platform/locales/localizedText.js';
import { DEFAULT_LOCALE, isLocale } from '../../platform/locales/locale.js';
import { inArray } from 'drizzle-orm';
import { lockAddresses } from './service.js';
import { verifyToken, type TokenClaims, type TokenPurpose } from '../../platform/http/tokens.js';

export interface ConfirmOutcome {
  /** The list's name in the subscriber's language. */
  listName: string;
  /** Where the list sends a person who confirmed (a browser gets a 303 there); null: the built-in page. */
  confirmedUrl: string | null;
  /** The address confirmed, for the page to name (masked). */
  email: string;
  alreadyConfirmed: boolean;
  /** The welcome email's outbox row, written on the first confirmation only. */
  outboxId: string | null;
}

const missingToken = () => new AppError(400, 'missing_token', 'This link is incomplete: it has no token.');
const invalidToken = () => new AppError(400, 'invalid_token', 'This link is not valid. Please use the link from your email as it is.');

/** Checks a signed link's token and returns the subscription id it names, or a clear 4xx. */
export function subscriptionIdFromToken(secrets: readonly string[], token: unknown, purpose: TokenPurpose, now = Date.now()): number {
  return linkClaims(secrets, token, purpose, now).subscriptionId;
}

/** A signed link's claims (its subscription, and the broadcast that carried it, if any), or a clear 4xx. */
export function linkClaims(secrets: readonly string[], token: unknown, purpose: TokenPurpose, now = Date.now()): TokenClaims {
  if (typeof token !== 'string' || token === '') throw missingToken();
  const check = verifyToken(secrets, token, purpose, now);
  if (check.ok) return check.claims;
  if (check.reason === 'expired') {
    throw new AppError(410, 'expired_token', 'This link has expired. Please sign up again to get a new one.');
  }
  throw invalidToken();
}

/** What the page for a lapsed confirm link offers: signing up again with the same address, list and language. */
export interface SignupAgain {
  email: string;
  listSlug: string;
  locale: string;
}

/** `410 expired`: the confirmation request lapsed; `signupAgain` is null once the request is gone. */
export class ConfirmationExpired extends AppError {
  constructor(readonly signupAgain: SignupAgain | null) {
    super(410, 'expired', 'This confirmation link has expired. Please sign up again to get a new one.');
  }
}

/** A confirm link's claims once its signature and purpose hold; whether it lapsed is judged with its request. */
function confirmLinkClaims(secrets: readonly string[], token: unknown, now: number): TokenClaims & { linkExpired: boolean } {
  if (typeof token !== 'string' || token === '') throw missingToken();
  // Checked with the clock at 0, so a genuine but lapsed link still says which request it was for.
  const check = verifyToken(secrets, token, 'confirm', 0);
  if (!check.ok) throw invalidToken();
  return { ...check.claims, linkExpired: check.claims.expiresAt !== 0 && check.claims.expiresAt <= now };
}

/**
 * Makes the caller's transaction the only one, in any process, that changes what concerns the
 * address a link's subscription belongs to, until it ends: one address's confirmations,
 * opt-outs, undos and signups take turns and each reads what the one before committed, as they
 * did under SQLite's single writer (where this does nothing: BEGIN IMMEDIATE already made the
 * transaction the file's only writer).
 *
 * PostgreSQL: the address lock signups take (lockAddresses), then the contact's row lock, which
 * an erasure takes (and waits for). NO KEY UPDATE: inserts that refer to the contact (the
 * consent log from a worker's bounce, say) take KEY SHARE and need not wait. Taken in this order
 * everywhere (address, contact, then its other rows), so that no two of them deadlock. The
 * address is read once without a lock to know which to take; nothing is locked when the
 * subscription is gone, and the read that follows answers that.
 */
export async function lockAddressOfSubscription(tx: Scope, subscriptionId: number): Promise<void> {
  if (tx.dialect !== 'postgresql') return;
  const { contacts, subscriptions } = tx.tables;
  const ofSubscription = inArray(
    contacts.id,
    tx.db.select({ id: subscriptions.contactId }).from(subscriptions).where(eq(subscriptions.id, subscriptionId)),
  );
  const [contact] = await tx.db.select({ emailKey: contacts.emailKey }).from(contacts).where(ofSubscription);
  if (!contact) return;
  await lockAddresses(tx, [contact.emailKey]);
  await tx.db.select({ id: contacts.id }).from(contacts).where(ofSubscription).for('no key update');
}

interface ConfirmationTarget {
  subscription: Row<'subscriptions'>;
  contact: Row<'contacts'>;
  contactId: number;
  email: string;
  /** The canonical address and the person's locale, for the change other systems are told of. */
  emailKey: string;
  locale: string;
  listName: string;
  confirmedUrl: string | null;
  /** The list's consent statement at this moment: the confirmation is given on these words. */
  consentVersion: string | null;
  alreadyConfirmed: boolean;
  /** Cancelled through this subscription's own "not me" link: the confirm link may still say "it was me". */
  cancelledByNotMe: boolean;
  /**
   * Whether the link was sent for the request now pending (it expires when that request does);
   * a later signup on the same list replaced the request an older link was sent for.
   */
  linkNamesRequest: boolean;
}

async function readConfirmation(
  scope: Scope,
  secrets: readonly string[],
  claims: ReturnType<typeof confirmLinkClaims>,
  now: number,
  options: { itWasMe?: boolean } = {},
): Promise<ConfirmationTarget> {
  const { contacts, lists, subscriptions } = scope.tables;
  const [row] = await scope.db
    .select({ subscription: subscriptions, contact: contacts, list: lists })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .innerJoin(lists, eq(lists.id, subscriptions.listId))
    .where(eq(subscriptions.id, claims.subscriptionId));
  if (!row) {
    // The expiry sweep deletes lapsed requests: their links still get the way to sign up again.
    if (claims.linkExpired) throw new ConfirmationExpired(null);
    throw new AppError(404, 'unknown_subscription', 'This subscription no longer exists.');
  }
  const { subscription, contact, list } = row;
  const target = {
    subscription,
    contact,
    contactId: contact.id,
    email: contact.email,
    emailKey: contact.emailKey,
    locale: contact.locale,
    listName: listName(list, isLocale(contact.locale) ? contact.locale : DEFAULT_LOCALE),
    confirmedUrl: list.confirmedUrl,
    consentVersion: list.consentVersion,
    linkNamesRequest: false,
    cancelledByNotMe: false,
  };
  if (subscription.status === 'confirmed') return { ...target, alreadyConfirmed: true };
  if (subscription.status !== 'pending') {
    // "Not me" from this request's own mail ended it (never confirmed, ended by its own link).
    if (options.itWasMe && subscription.confirmedAt === null && subscription.endedByLink === subscription.id) {
      if (claims.linkExpired) throw new ConfirmationExpired({ email: contact.email, listSlug: list.slug, locale: contact.locale });
      return { ...target, alreadyConfirmed: false, cancelledByNotMe: true };
    }
    throw new AppError(409, 'subscription_closed', 'This subscription was cancelled. Please sign up again.');
  }
  // Confirming means the welcome email is sent next: the one rule that decides says whether it may be.
  const decision = await mayMail(scope, secrets, {
    emailKey: contact.emailKey,
    listId: subscription.listId,
    kind: 'welcome',
    subscriptionStatus: 'confirmed',
    confirmExpiresAt: null,
    now,
  });
  if (!decision.allowed) {
    throw new AppError(
      409,
      'address_blocked',
      'This address must not receive mail from us any more, so this subscription cannot be confirmed. Please contact us.',
    );
  }
  if (claims.linkExpired || subscription.confirmExpiresAt === null || subscription.confirmExpiresAt <= now) {
    throw new ConfirmationExpired({ email: contact.email, listSlug: list.slug, locale: contact.locale });
  }
  return { ...target, alreadyConfirmed: false, linkNamesRequest: claims.expiresAt === subscription.confirmExpiresAt };
}

/**
 * Reads what a confirm link names and answers as confirming would (404, 409, 410), changing
 * nothing: the page a link opens tells at once what pressing its button would.
 */
export async function checkConfirmLink(
  scope: Scope,
  secrets: readonly string[],
  token: unknown,
  now = Date.now(),
): Promise<{ listName: string; email: string; alreadyConfirmed: boolean; cancelledByNotMe: boolean }> {
  const { listName, email, alreadyConfirmed, cancelledByNotMe } = await readConfirmation(
    scope,
    secrets,
    confirmLinkClaims(secrets, token, now),
    now,
    { itWasMe: true },
  );
  return { listName, email, alreadyConfirmed, cancelledByNotMe };
}

/**
 * Confirms a pending subscription: records the consent event and writes the welcome email to
 * the outbox in one transaction. Confirming again changes nothing and sends nothing. A lapsed
 * request answers `410 expired`, an address suppressed meanwhile `409 address_blocked`; both
 * change nothing. The name given with the confirmed request becomes the contact's.
 */
export async function confirmSubscription(
  database: Database,
  secrets: readonly string[],
  token: unknown,
  origin: RequestOrigin,
  now = Date.now(),
): Promise<ConfirmOutcome> {
  const claims = confirmLinkClaims(secrets, token, now);
  return database.transaction(async (tx) => {
    const { contacts, outbox, subscriptions } = tx.tables;
    // Two clicks on one link in two processes: the second waits here, then reads it confirmed (one welcome email).
    await lockAddressOfSubscription(tx, claims.subscriptionId);
    const { subscription, contactId, email, emailKey, locale, listName, confirmedUrl, consentVersion, alreadyConfirmed, linkNamesRequest } =
      await readConfirmation(tx, secrets, claims, now);
    if (alreadyConfirmed) return { listName, confirmedUrl, email, alreadyConfirmed: true, outboxId: null };
    await tx.db
      .update(subscriptions)
      .set({ status: 'confirmed', confirmedAt: now, confirmExpiresAt: null, pendingName: null })
      .where(eq(subscriptions.id, subscription.id));
    // Only text from the request this link was sent for may reach an email; an older link's request was replaced.
    if (linkNamesRequest && subscription.pendingName !== null) {
      await tx.db.update(contacts).set({ name: subscription.pendingName }).where(eq(contacts.id, contactId));
    }
    await recordConsent(tx, { contactId, listId: subscription.listId, action: 'confirmed', at: now, origin, consentVersion });
    await recordChanges(tx, [{ type: 'subscription.confirmed', email: emailKey, listId: subscription.listId, locale, at: now }]);
    const outboxId = randomUUID();
    await tx.db.insert(outbox).values({ id: outboxId, kind: 'welcome', subscriptionId: subscription.id, status: 'queued', createdAt: now });
    return { listName, confirmedUrl, email, alreadyConfirmed: false, outboxId };
  });
}

/** What "it was me" did: the welcome email, and confirmations for other requests its "not me" had cancelled. */
export interface ItWasMeOutcome extends ConfirmOutcome {
  outboxIds: string[];
}

/**
 * "It was me — subscribe me", from the confirm link of a request cancelled through its own "not
 * me" link. Holding the confirm link proves the mailbox, as for the ordinary confirm, so this
 * confirms the subscription (the welcome email follows) and lifts exactly what that "not me"
 * did: the "every list" entry it created (and no other: an entry it shares with a later opt-out
 * no longer belongs to it) and the other requests it cancelled, which go back to pending with a
 * new confirmation email. When another entry still covers the list (a bounce, a complaint, an
 * admin block, another opt-out), nothing changes: `409 address_blocked`.
 */
export async function confirmAfterNotMe(
  database: Database,
  secrets: readonly string[],
  token: unknown,
  origin: RequestOrigin,
  now = Date.now(),
): Promise<ItWasMeOutcome> {
  const claims = confirmLinkClaims(secrets, token, now);
  return database.transaction(async (tx) => {
    const { outbox, subscriptions, suppressions } = tx.tables;
    await lockAddressOfSubscription(tx, claims.subscriptionId);
    const target = await readConfirmation(tx, secrets, claims, now, { itWasMe: true });
    const { subscription, contact, listName, confirmedUrl, email } = target;
    if (target.alreadyConfirmed) return { listName, confirmedUrl, email, alreadyConfirmed: true, outboxId: null, outboxIds: [] };
    // A request still pending (its "not me" was never pressed) is confirmed as usual.
    if (!target.cancelledByNotMe)
      throw new AppError(409, 'subscription_open', 'This request was not cancelled: confirm it with its button.');

    await tx.db
      .delete(suppressions)
      .where(
        and(
          entriesOfAddress(tx.tables, secrets, contact.emailKey),
          eq(suppressions.reason, 'unsubscribed'),
          eq(suppressions.createdByLink, subscription.id),
        ),
      );
    const decision = await mayMail(tx, secrets, {
      emailKey: contact.emailKey,
      listId: subscription.listId,
      kind: 'welcome',
      subscriptionStatus: 'confirmed',
      confirmExpiresAt: null,
      now,
    });
    if (!decision.allowed) {
      throw new AppError(
        409,
        'address_blocked',
        'This address must not receive mail from us any more, so this subscription cannot be confirmed. Please contact us.',
      );
    }
    await tx.db
      .update(subscriptions)
      .set({ status: 'confirmed', confirmedAt: now, unsubscribedAt: null, endedByLink: null, confirmExpiresAt: null, pendingName: null })
      .where(eq(subscriptions.id, subscription.id));
    await recordConsent(tx, {
      contactId: contact.id,
      listId: subscription.listId,
      action: 'confirmed',
      at: now,
      origin,
      detail: 'it was me (after not me)',
      // As an ordinary confirmation: given on the list's statement in force now.
      consentVersion: target.consentVersion,
    });
    await recordChanges(tx, [
      { type: 'subscription.confirmed', email: contact.emailKey, listId: subscription.listId, locale: contact.locale, at: now },
    ]);
    const outboxId = randomUUID();
    await tx.db.insert(outbox).values({ id: outboxId, kind: 'welcome', subscriptionId: subscription.id, status: 'queued', createdAt: now });

    const others = await tx.db
      .select()
      .from(subscriptions)
      .where(
        and(
          eq(subscriptions.contactId, contact.id),
          eq(subscriptions.status, 'unsubscribed'),
          eq(subscriptions.endedByLink, subscription.id),
          ne(subscriptions.id, subscription.id),
        ),
      );
    const outboxIds: string[] = [];
    for (const other of others) {
      const restored = await restoreSubscription(tx, secrets, { contact, subscription: other, now, origin });
      if (typeof restored === 'string' && restored !== 'blocked') outboxIds.push(restored);
    }
    return { listName, confirmedUrl, email, alreadyConfirmed: false, outboxId, outboxIds };
  });
}

/**
 * Brings back one subscription an opt-out ended, when the holder of that opt-out's link undoes
 * it: one that was confirmed is confirmed again; one never confirmed goes back to pending with a
 * new confirmation email (the double opt-in is never skipped). Where a suppression entry still
 * covers its list, nothing changes: 'blocked'. Returns the confirmation's outbox row, or null.
 */
export async function restoreSubscription(
  tx: Scope,
  secrets: readonly string[],
  {
    contact,
    subscription,
    now,
    origin,
  }: { contact: Row<'contacts'>; subscription: Row<'subscriptions'>; now: number; origin: RequestOrigin },
): Promise<string | null | 'blocked'> {
  const { outbox, subscriptions } = tx.tables;
  const confirmExpiresAt = now + CONFIRM_TOKEN_TTL_MS;
  const status: SubscriptionStatus = subscription.confirmedAt === null ? 'pending' : 'confirmed';
  const decision = await mayMail(tx, secrets, {
    emailKey: contact.emailKey,
    listId: subscription.listId,
    kind: status === 'pending' ? 'confirmation' : 'welcome',
    subscriptionStatus: status,
    confirmExpiresAt,
    now,
  });
  if (!decision.allowed) return 'blocked';
  await tx.db
    .update(subscriptions)
    .set({ status, unsubscribedAt: null, endedByLink: null, confirmExpiresAt: status === 'pending' ? confirmExpiresAt : null })
    .where(eq(subscriptions.id, subscription.id));
  await recordConsent(tx, { contactId: contact.id, listId: subscription.listId, action: 'resubscribed', at: now, origin });
  if (status !== 'pending') {
    await recordChanges(tx, [
      { type: 'subscription.confirmed', email: contact.emailKey, listId: subscription.listId, locale: contact.locale, at: now },
    ]);
    return null;
  }
  const id = randomUUID();
  await tx.db.insert(outbox).values({ id, kind: 'confirmation', subscriptionId: subscription.id, status: 'queued', createdAt: now });
  return id;
}
