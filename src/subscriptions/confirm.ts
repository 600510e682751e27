import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { contacts, lists, outbox, subscriptions } from '../db/schema.js';
import { AppError } from '../errors.js';
import { recordConsent, type RequestOrigin } from './consent.js';
import { mayMail } from './mailPolicy.js';
import { verifyToken, type TokenClaims, type TokenPurpose } from './tokens.js';

export interface ConfirmOutcome {
  listName: string;
  alreadyConfirmed: boolean;
  /** The welcome email's outbox row, written on the first confirmation only. */
  outboxId: string | null;
}

const missingToken = () => new AppError(400, 'missing_token', 'This link is incomplete: it has no token.');
const invalidToken = () => new AppError(400, 'invalid_token', 'This link is not valid. Please use the link from your email as it is.');

/** Checks a signed link's token and returns the subscription id it names, or a clear 4xx. */
export function subscriptionIdFromToken(secrets: readonly string[], token: unknown, purpose: TokenPurpose, now = Date.now()): number {
  if (typeof token !== 'string' || token === '') throw missingToken();
  const check = verifyToken(secrets, token, purpose, now);
  if (check.ok) return check.claims.subscriptionId;
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

interface ConfirmationTarget {
  subscription: typeof subscriptions.$inferSelect;
  contactId: number;
  listName: string;
  alreadyConfirmed: boolean;
  /**
   * Whether the link was sent for the request now pending (it expires when that request does);
   * a later signup on the same list replaced the request an older link was sent for.
   */
  linkNamesRequest: boolean;
}

function readConfirmation(db: Pick<Db, 'select'>, secrets: readonly string[], claims: ReturnType<typeof confirmLinkClaims>, now: number): ConfirmationTarget {
  const row = db
    .select({ subscription: subscriptions, contact: contacts, list: lists })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .innerJoin(lists, eq(lists.id, subscriptions.listId))
    .where(eq(subscriptions.id, claims.subscriptionId))
    .get();
  if (!row) {
    // The expiry sweep deletes lapsed requests: their links still get the way to sign up again.
    if (claims.linkExpired) throw new ConfirmationExpired(null);
    throw new AppError(404, 'unknown_subscription', 'This subscription no longer exists.');
  }
  const { subscription, contact, list } = row;
  const target = { subscription, contactId: contact.id, listName: list.name, linkNamesRequest: false };
  if (subscription.status === 'confirmed') return { ...target, alreadyConfirmed: true };
  if (subscription.status !== 'pending') {
    throw new AppError(409, 'subscription_closed', 'This subscription was cancelled. Please sign up again.');
  }
  // Confirming means the welcome email is sent next: the one rule that decides says whether it may be.
  const decision = mayMail(db, secrets, { emailKey: contact.emailKey, listId: subscription.listId, kind: 'welcome', subscriptionStatus: 'confirmed', confirmExpiresAt: null, now });
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
export function checkConfirmLink(db: Db, secrets: readonly string[], token: unknown, now = Date.now()): { listName: string; alreadyConfirmed: boolean } {
  const { listName, alreadyConfirmed } = readConfirmation(db, secrets, confirmLinkClaims(secrets, token, now), now);
  return { listName, alreadyConfirmed };
}

/**
 * Confirms a pending subscription: records the consent event and writes the welcome email to
 * the outbox in one transaction. Confirming again changes nothing and sends nothing. A lapsed
 * request answers `410 expired`, an address suppressed meanwhile `409 address_blocked`; both
 * change nothing. The name given with the confirmed request becomes the contact's.
 */
export function confirmSubscription(db: Db, secrets: readonly string[], token: unknown, origin: RequestOrigin, now = Date.now()): ConfirmOutcome {
  const claims = confirmLinkClaims(secrets, token, now);
  return writeTransaction(db, (tx) => {
    const { subscription, contactId, listName, alreadyConfirmed, linkNamesRequest } = readConfirmation(tx, secrets, claims, now);
    if (alreadyConfirmed) return { listName, alreadyConfirmed: true, outboxId: null };
    tx.update(subscriptions)
      .set({ status: 'confirmed', confirmedAt: now, confirmExpiresAt: null, pendingName: null })
      .where(eq(subscriptions.id, subscription.id))
      .run();
    // Only text from the request this link was sent for may reach an email; an older link's request was replaced.
    if (linkNamesRequest && subscription.pendingName !== null) {
      tx.update(contacts).set({ name: subscription.pendingName }).where(eq(contacts.id, contactId)).run();
    }
    recordConsent(tx, { contactId, listId: subscription.listId, action: 'confirmed', at: now, origin });
    const outboxId = randomUUID();
    tx.insert(outbox).values({ id: outboxId, kind: 'welcome', subscriptionId: subscription.id, status: 'queued', createdAt: now }).run();
    return { listName, alreadyConfirmed: false, outboxId };
  });
}
