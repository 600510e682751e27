import { randomUUID } from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
import type { Database, Row, Scope } from '../db/database.js';
import { AppError } from '../errors.js';
import { recordConsent, type RequestOrigin } from './consent.js';
import { mayMail } from './mailPolicy.js';
import { lockAddresses } from './subscribe.js';
import { verifyToken, type TokenClaims, type TokenPurpose } from './tokens.js';

export interface ConfirmOutcome {
  listName: string;
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
  const ofSubscription = inArray(contacts.id, tx.db.select({ id: subscriptions.contactId }).from(subscriptions).where(eq(subscriptions.id, subscriptionId)));
  const [contact] = await tx.db.select({ emailKey: contacts.emailKey }).from(contacts).where(ofSubscription);
  if (!contact) return;
  await lockAddresses(tx, [contact.emailKey]);
  await tx.db.select({ id: contacts.id }).from(contacts).where(ofSubscription).for('no key update');
}

interface ConfirmationTarget {
  subscription: Row<'subscriptions'>;
  contactId: number;
  email: string;
  listName: string;
  alreadyConfirmed: boolean;
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
  const target = { subscription, contactId: contact.id, email: contact.email, listName: list.name, linkNamesRequest: false };
  if (subscription.status === 'confirmed') return { ...target, alreadyConfirmed: true };
  if (subscription.status !== 'pending') {
    throw new AppError(409, 'subscription_closed', 'This subscription was cancelled. Please sign up again.');
  }
  // Confirming means the welcome email is sent next: the one rule that decides says whether it may be.
  const decision = await mayMail(scope, secrets, { emailKey: contact.emailKey, listId: subscription.listId, kind: 'welcome', subscriptionStatus: 'confirmed', confirmExpiresAt: null, now });
  if (!decision.allowed) {
    throw new AppError(409, 'address_blocked', 'This address must not receive mail from us any more, so this subscription cannot be confirmed. Please contact us.');
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
): Promise<{ listName: string; email: string; alreadyConfirmed: boolean }> {
  const { listName, email, alreadyConfirmed } = await readConfirmation(scope, secrets, confirmLinkClaims(secrets, token, now), now);
  return { listName, email, alreadyConfirmed };
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
    const { subscription, contactId, email, listName, alreadyConfirmed, linkNamesRequest } = await readConfirmation(tx, secrets, claims, now);
    if (alreadyConfirmed) return { listName, email, alreadyConfirmed: true, outboxId: null };
    await tx.db
      .update(subscriptions)
      .set({ status: 'confirmed', confirmedAt: now, confirmExpiresAt: null, pendingName: null })
      .where(eq(subscriptions.id, subscription.id));
    // Only text from the request this link was sent for may reach an email; an older link's request was replaced.
    if (linkNamesRequest && subscription.pendingName !== null) {
      await tx.db.update(contacts).set({ name: subscription.pendingName }).where(eq(contacts.id, contactId));
    }
    await recordConsent(tx, { contactId, listId: subscription.listId, action: 'confirmed', at: now, origin });
    const outboxId = randomUUID();
    await tx.db.insert(outbox).values({ id: outboxId, kind: 'welcome', subscriptionId: subscription.id, status: 'queued', createdAt: now });
    return { listName, email, alreadyConfirmed: false, outboxId };
  });
}
