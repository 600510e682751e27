import { randomUUID } from 'node:crypto';
import { and, eq, gt, inArray } from 'drizzle-orm';
import { AppError } from '../../errors.js';
import type { Database, Row, Scope } from '../../platform/db/database.js';
import { DATA_LINK_TTL_MS, verifyToken } from '../../platform/http/tokens.js';
import { mayMail, recordConsent, type RequestOrigin } from '../policy/index.js';
import { subscriptionIdFromToken } from '../signup/index.js';
import { contactRecord, eraseContact, type ContactRecord } from '../subscribers/index.js';
import { contactOfLink } from './service.js';

/**
 * Erasing one's data and downloading it happen only from a one-time link mailed to the address
 * itself (DATA_LINK_TTL_MS): the preference link travels with every forwarded mail, so whoever
 * holds it may ask, but only the mailbox's owner can act.
 */
export type DataAction = 'erase' | 'export';

const KIND = { erase: 'erase_link', export: 'export_link' } as const;

export interface DataLinkRequest {
  /** The link's outbox row, to hand to the relay after the commit; null when none was written now. */
  outboxId: string | null;
  /** `sent`: a link is on its way (now, or one asked for less than DATA_LINK_TTL_MS ago); `refused`: this address gets no mail. */
  outcome: 'sent' | 'refused';
  contact: Row<'contacts'>;
}

/**
 * Writes the mail that carries the link, for the contact a preference link names. One link per
 * action in DATA_LINK_TTL_MS at most, so a forwarded preference link cannot flood the address.
 * The gate decides as for every mail (dataLinkDecision): the person's own opt-outs are no
 * obstacle, a bounce, complaint or block is.
 */
export async function requestDataLink(
  database: Database,
  secrets: readonly string[],
  request: { token: unknown; action: DataAction },
  now = Date.now(),
): Promise<DataLinkRequest> {
  const subscriptionId = subscriptionIdFromToken(secrets, request.token, 'preferences', now);
  return database.transaction(async (tx) => {
    const contact = await contactOfLink(tx, subscriptionId);
    const { outbox, subscriptions } = tx.tables;
    const theirs = tx.db.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.contactId, contact.id));
    const [recent] = await tx.db
      .select({ id: outbox.id })
      .from(outbox)
      .where(
        and(
          inArray(outbox.subscriptionId, theirs),
          eq(outbox.kind, KIND[request.action]),
          gt(outbox.createdAt, now - DATA_LINK_TTL_MS),
          inArray(outbox.status, ['queued', 'sent']),
        ),
      )
      .limit(1);
    if (recent) return { outboxId: null, outcome: 'sent', contact };
    const decision = await mayMail(tx, secrets, {
      emailKey: contact.emailKey,
      listId: 0,
      kind: KIND[request.action],
      subscriptionStatus: null,
      confirmExpiresAt: null,
      dataLinkRequestedAt: now,
      now,
    });
    if (!decision.allowed) return { outboxId: null, outcome: 'refused', contact };
    const id = randomUUID();
    await tx.db.insert(outbox).values({ id, kind: KIND[request.action], subscriptionId, status: 'queued', createdAt: now });
    return { outboxId: id, outcome: 'sent', contact };
  });
}

/** The contact a mailed link names, and the link's expiry (which tells one link from another). */
export interface DataLinkSubject {
  contact: Row<'contacts'>;
  expiresAt: number;
}

/**
 * Checks a mailed link: signed for this action, not expired (`410 data_link_expired`), and its
 * contact still there (`410 data_link_used`: an erase link works once, and an erased person has
 * nothing left to download). Changes nothing.
 */
export async function dataLinkSubject(
  scope: Scope,
  secrets: readonly string[],
  token: unknown,
  action: DataAction,
  now = Date.now(),
): Promise<DataLinkSubject> {
  if (typeof token !== 'string' || token === '')
    throw new AppError(400, 'missing_token', 'The link has no token. Open it again from the email, as it is.');
  const check = verifyToken(secrets, token, action, now);
  if (!check.ok && check.reason === 'expired') {
    throw new AppError(410, 'data_link_expired', 'This link has expired. Ask for a new one from your preferences page.');
  }
  if (!check.ok) throw new AppError(400, 'invalid_token', 'This link is not valid. Open it again from the email, as it is.');
  const contact = await contactOfLink(scope, check.claims.subscriptionId).catch((error: unknown) => {
    if (error instanceof AppError && error.code === 'unknown_subscription') {
      throw new AppError(410, 'data_link_used', 'This link has been used: the data it was for is gone.');
    }
    throw error;
  });
  return { contact, expiresAt: check.claims.expiresAt };
}

/** The consent event's detail that marks a download link as used. */
const exportedBy = (expiresAt: number) => `one-time link ${expiresAt}`;

/**
 * The person's complete data (their own IPs and user agents in full), once per link: the
 * download is recorded in the consent trail with the link, and a second use answers
 * `410 data_link_used`.
 */
export async function exportByLink(
  database: Database,
  secrets: readonly string[],
  request: { token: unknown; origin: RequestOrigin },
  now = Date.now(),
): Promise<ContactRecord> {
  const email = await database.transaction(async (tx) => {
    const { contact, expiresAt } = await dataLinkSubject(tx, secrets, request.token, 'export', now);
    const { consentEvents } = tx.tables;
    const [used] = await tx.db
      .select({ id: consentEvents.id })
      .from(consentEvents)
      .where(
        and(
          eq(consentEvents.contactId, contact.id),
          eq(consentEvents.action, 'data_exported'),
          eq(consentEvents.detail, exportedBy(expiresAt)),
        ),
      )
      .limit(1);
    if (used) throw new AppError(410, 'data_link_used', 'This link has been used. Ask for a new one from your preferences page.');
    await recordConsent(tx, {
      contactId: contact.id,
      listId: null,
      action: 'data_exported',
      at: now,
      origin: request.origin,
      detail: exportedBy(expiresAt),
    });
    return contact.email;
  });
  return contactRecord(database, secrets, email);
}

/** Erases the contact a mailed erase link names (once: the link names nobody afterwards). */
export async function eraseByLink(database: Database, secrets: readonly string[], token: unknown, now = Date.now()): Promise<void> {
  const { contact } = await dataLinkSubject(database, secrets, token, 'erase', now);
  // The consent log keeps "a contact was erased by the preference centre", and nothing about whom.
  await eraseContact(database, secrets, contact.email, 'preference centre', now);
}
