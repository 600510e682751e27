import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
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

export function findListBySlug(db: Pick<Db, 'select'>, slug: string) {
  const list = db.select().from(lists).where(eq(lists.slug, slug)).get();
  if (!list) throw new AppError(404, 'unknown_list', `There is no list called "${slug}".`);
  return list;
}

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
  return db.transaction((tx) => {
    const list = findListBySlug(tx, request.listSlug);
    const outcome: SignupOutcome = { thankYouUrl: list.thankYouUrl, outboxId: null };
    const confirmExpiresAt = now + CONFIRM_TOKEN_TTL_MS;

    const existingContact = tx.select().from(contacts).where(eq(contacts.emailKey, address.emailKey)).get();
    const existing = existingContact
      ? tx
          .select()
          .from(subscriptions)
          .where(and(eq(subscriptions.contactId, existingContact.id), eq(subscriptions.listId, list.id)))
          .get()
      : undefined;
    if (existing?.status === 'confirmed') return outcome;

    const decision = mayMail(tx, secrets, {
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

    const contact =
      existingContact ??
      tx
        .insert(contacts)
        .values({ email: address.email, emailKey: address.emailKey, name: request.name, locale: request.locale, createdAt: now })
        .returning()
        .get();
    if (existingContact && existingContact.locale !== request.locale) {
      tx.update(contacts).set({ locale: request.locale }).where(eq(contacts.id, contact.id)).run();
    }

    let subscriptionId: number;
    if (existing) {
      subscriptionId = existing.id;
      tx.update(subscriptions)
        .set({ status: 'pending', confirmExpiresAt, unsubscribedAt: null })
        .where(eq(subscriptions.id, existing.id))
        .run();
    } else {
      subscriptionId = tx
        .insert(subscriptions)
        .values({ contactId: contact.id, listId: list.id, status: 'pending', createdAt: now, confirmExpiresAt })
        .returning({ id: subscriptions.id })
        .get().id;
    }
    recordConsent(tx, { contactId: contact.id, listId: list.id, action: 'subscribe_requested', at: now, origin: request.origin });

    const outboxId = randomUUID();
    tx.insert(outbox).values({ id: outboxId, kind: 'confirmation', subscriptionId, status: 'queued', createdAt: now }).run();
    outcome.outboxId = outboxId;
    return outcome;
  }, { behavior: 'immediate' });
}
