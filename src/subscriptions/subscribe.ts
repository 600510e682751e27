import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { preparedPerHandle } from '../db/prepared.js';
import { contacts, lists, outbox, subscriptions } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Locale } from '../mail/locale.js';
import { parseAddress } from './address.js';
import { recordConsent, type RequestOrigin } from './consent.js';
import { mayMail, type ConfirmLimits } from './mailPolicy.js';
import { CONFIRM_TOKEN_TTL_MS } from './tokens.js';

export interface SignupRequest {
  email: string;
  listSlug: string;
  locale: Locale;
  name: string | null;
  origin: RequestOrigin;
  confirmLimits: ConfirmLimits;
}

export interface SignupOutcome {
  /** The thank-you URL of the list, when it has one. */
  thankYouUrl: string | null;
  /** The outbox row of the confirmation email, when one was written. */
  outboxId: string | null;
}

const listBySlug = preparedPerHandle((db: Pick<Db, 'select'>) =>
  db.select().from(lists).where(eq(lists.slug, sql.placeholder('slug'))).prepare(),
);

export function findListBySlug(db: Pick<Db, 'select'>, slug: string) {
  const list = listBySlug(db).get({ slug });
  if (!list) throw new AppError(404, 'unknown_list', `There is no list called "${slug}".`);
  return list;
}

// The signup path's statements, prepared once per database handle (see preparedPerHandle).
const contactByKey = preparedPerHandle((db: Db) =>
  db.select().from(contacts).where(eq(contacts.emailKey, sql.placeholder('emailKey'))).prepare(),
);
const subscriptionOf = preparedPerHandle((db: Db) =>
  db
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.contactId, sql.placeholder('contactId')), eq(subscriptions.listId, sql.placeholder('listId'))))
    .prepare(),
);
// No name: it stays on the pending request until that request is confirmed.
const insertContact = preparedPerHandle((db: Db) =>
  db
    .insert(contacts)
    .values({
      email: sql.placeholder('email'),
      emailKey: sql.placeholder('emailKey'),
      locale: sql.placeholder('locale'),
      createdAt: sql.placeholder('createdAt'),
    })
    .returning()
    .prepare(),
);
const insertPendingSubscription = preparedPerHandle((db: Db) =>
  db
    .insert(subscriptions)
    .values({
      contactId: sql.placeholder('contactId'),
      listId: sql.placeholder('listId'),
      status: 'pending',
      createdAt: sql.placeholder('createdAt'),
      confirmExpiresAt: sql.placeholder('confirmExpiresAt'),
      pendingName: sql.placeholder('pendingName'),
    })
    .returning({ id: subscriptions.id })
    .prepare(),
);
const confirmedSubscriptionOf = preparedPerHandle((db: Db) =>
  db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.contactId, sql.placeholder('contactId')), eq(subscriptions.status, 'confirmed')))
    .limit(1)
    .prepare(),
);
const insertConfirmationMessage = preparedPerHandle((db: Db) =>
  db
    .insert(outbox)
    .values({
      id: sql.placeholder('id'),
      kind: 'confirmation',
      subscriptionId: sql.placeholder('subscriptionId'),
      status: 'queued',
      createdAt: sql.placeholder('createdAt'),
    })
    .prepare(),
);

/**
 * Records a signup as a pending subscription and writes its confirmation email to the outbox,
 * all in one transaction. The outcome is the same for new, pending, confirmed and opted-out
 * addresses as far as the caller's answer goes; only the outbox row differs.
 */
export function requestSubscription(db: Db, secrets: readonly string[], request: SignupRequest, now = Date.now()): SignupOutcome {
  const parsed = parseAddress(request.email);
  if (!parsed.ok) throw new AppError(400, 'invalid_email', parsed.message);
  const { address } = parsed;

  // Immediate: the write lock is taken before the mail policy reads, so API processes sharing
  // the database can't both pass the per-address limits and both queue a confirmation.
  // Statements run on the root handle (one connection, so inside this transaction): that is
  // what lets them be prepared once rather than per transaction object.
  return writeTransaction(db, (tx) => {
    const list = findListBySlug(db, request.listSlug);
    const outcome: SignupOutcome = { thankYouUrl: list.thankYouUrl, outboxId: null };
    const confirmExpiresAt = now + CONFIRM_TOKEN_TTL_MS;

    const existingContact = contactByKey(db).get({ emailKey: address.emailKey });
    const existing = existingContact ? subscriptionOf(db).get({ contactId: existingContact.id, listId: list.id }) : undefined;
    if (existing?.status === 'confirmed') return outcome;

    const decision = mayMail(db, secrets, {
      emailKey: address.emailKey,
      listId: list.id,
      kind: 'confirmation',
      subscriptionStatus: 'pending',
      confirmExpiresAt,
      confirmBudget: { contactId: existingContact?.id ?? null, outboxId: null, requestedAt: now, limits: request.confirmLimits },
      now,
    });
    // A suppressed address, or one mailed too often already, leaves no trace of the attempt:
    // nothing is stored, nothing is queued.
    if (!decision.allowed) return outcome;

    const contact = existingContact ?? insertContact(db).get({ email: address.email, emailKey: address.emailKey, locale: request.locale, createdAt: now })!;
    // The language of a person confirmed on some list is theirs; an unconfirmed request doesn't change it.
    if (existingContact && existingContact.locale !== request.locale && !confirmedSubscriptionOf(db).get({ contactId: contact.id })) {
      tx.update(contacts).set({ locale: request.locale }).where(eq(contacts.id, contact.id)).run();
    }

    let subscriptionId: number;
    if (existing) {
      subscriptionId = existing.id;
      tx.update(subscriptions)
        .set({ status: 'pending', confirmExpiresAt, unsubscribedAt: null, endedByLink: null, pendingName: request.name })
        .where(eq(subscriptions.id, existing.id))
        .run();
    } else {
      subscriptionId = insertPendingSubscription(db).get({ contactId: contact.id, listId: list.id, createdAt: now, confirmExpiresAt, pendingName: request.name })!.id;
    }
    recordConsent(db, { contactId: contact.id, listId: list.id, action: 'subscribe_requested', at: now, origin: request.origin });

    const outboxId = randomUUID();
    insertConfirmationMessage(db).run({ id: outboxId, subscriptionId, createdAt: now });
    outcome.outboxId = outboxId;
    return outcome;
  });
}
