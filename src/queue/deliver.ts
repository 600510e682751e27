import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { preparedPerHandle } from '../db/prepared.js';
import { contacts, lists, outbox, subscriptions } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { maskEmail } from '../logger.js';
import { composeMessage, type MessageContext } from '../mail/compose.js';
import { receivesExactly } from '../mail/envelope.js';
import type { Metrics } from '../metrics.js';
import { isLocale, DEFAULT_LOCALE } from '../mail/locale.js';
import { RecipientRefusedError } from '../mail/sendErrors.js';
import type { Mailer } from '../mail/transport.js';
import { domainOf } from '../subscriptions/address.js';
import { recordConsent } from '../subscriptions/consent.js';
import { mayMail, type ConfirmLimits } from '../subscriptions/mailPolicy.js';
import { suppressAddress } from '../subscriptions/suppression.js';

export interface DeliveryDeps {
  db: Db;
  mailer: Mailer;
  messages: MessageContext;
  confirmLimits: ConfirmLimits;
  logger: Logger;
  metrics: Pick<Metrics, 'sends' | 'sendDuration'>;
}

export type DeliveryOutcome = 'sent' | 'already_done' | 'dropped' | 'bounced';

// The per-message statements, prepared once per database handle (see preparedPerHandle).
const outboxMessage = preparedPerHandle((db: Db) =>
  db
    .select({
      message: outbox,
      subscription: subscriptions,
      contact: contacts,
      list: lists,
    })
    .from(outbox)
    .leftJoin(subscriptions, eq(subscriptions.id, outbox.subscriptionId))
    .leftJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .leftJoin(lists, eq(lists.id, subscriptions.listId))
    .where(eq(outbox.id, sql.placeholder('outboxId')))
    .prepare(),
);
const countAttempt = preparedPerHandle((db: Db) =>
  db
    .update(outbox)
    .set({ attempts: sql`${outbox.attempts} + 1` })
    .where(eq(outbox.id, sql.placeholder('outboxId')))
    .prepare(),
);
const markSent = preparedPerHandle((db: Db) =>
  db
    .update(outbox)
    .set({ status: 'sent', sentAt: sql`${sql.placeholder('sentAt')}`, lastError: null })
    .where(eq(outbox.id, sql.placeholder('outboxId')))
    .prepare(),
);

function loadOutboxMessage(db: Db, outboxId: string) {
  return outboxMessage(db).get({ outboxId });
}

/**
 * Sends one outbox message, at most once. Everything is re-read from the database and the
 * mail policy is asked again right before the SMTP call, so an opt-out that lands while the
 * message waits in the queue still stops it. Only the recipient's own refusal (a
 * RecipientRefusedError) suppresses the address as bounced; every other failure is recorded on
 * the row and thrown: a SenderSetupError is held by the worker until the setup works again,
 * anything else is retried up to SEND_ATTEMPTS times.
 */
export async function deliverOutboxMessage(deps: DeliveryDeps, outboxId: string, now = Date.now()): Promise<DeliveryOutcome> {
  const { db, logger } = deps;
  const row = loadOutboxMessage(db, outboxId);
  if (!row || row.message.status !== 'queued') return 'already_done';
  const { message, subscription, contact, list } = row;

  const decision = mayMail(db, deps.messages.secrets, {
    emailKey: contact?.emailKey ?? null,
    listId: subscription?.listId ?? 0,
    kind: message.kind,
    subscriptionStatus: subscription?.status ?? null,
    confirmExpiresAt: subscription?.confirmExpiresAt ?? null,
    confirmBudget: { contactId: contact?.id ?? null, outboxId, requestedAt: message.createdAt, limits: deps.confirmLimits },
    now,
  });
  // The decision was made on the contact's key: a stored address that SMTP would receive as
  // another mailbox (a quoted spelling written before such spellings were refused) is not sent.
  const recipientMismatch = contact !== null && !receivesExactly(contact);
  if (!decision.allowed || !subscription || !contact || !list || recipientMismatch) {
    const reason = !decision.allowed ? decision.reason : recipientMismatch ? 'recipient_mismatch' : 'subscription_gone';
    db.update(outbox).set({ status: 'dropped', lastError: reason }).where(eq(outbox.id, outboxId)).run();
    deps.metrics.sends.inc({ outcome: 'dropped' });
    if (reason === 'recipient_mismatch') logger.warn({ outboxId, kind: message.kind, reason }, 'message dropped: SMTP would not receive the address the decision was made on');
    else logger.info({ outboxId, kind: message.kind, reason }, 'message dropped by the mail policy');
    return 'dropped';
  }

  const outgoing = composeMessage(
    deps.messages,
    {
      outboxId,
      kind: message.kind,
      to: contact.email,
      locale: isLocale(contact.locale) ? contact.locale : DEFAULT_LOCALE,
      name: subscription.status === 'confirmed' ? contact.name : null,
      subscriptionId: subscription.id,
      listSlug: list.slug,
      listName: list.name,
      confirmExpiresAt: subscription.confirmExpiresAt,
    },
    now,
  );
  countAttempt(db).run({ outboxId });

  const stopTimer = deps.metrics.sendDuration.startTimer();
  try {
    await deps.mailer.send(outgoing);
  } catch (error) {
    if (!(error instanceof RecipientRefusedError)) {
      stopTimer({ outcome: 'retry' });
      db.update(outbox).set({ lastError: (error as Error).message }).where(eq(outbox.id, outboxId)).run();
      // Counted as "retry" here; the worker's failed handler counts "failed" once retries run out.
      deps.metrics.sends.inc({ outcome: 'retry' });
      throw error;
    }
    stopTimer({ outcome: 'bounced' });
    const at = Date.now();
    writeTransaction(db, (tx) => {
      tx.update(outbox).set({ status: 'failed', lastError: error.message }).where(eq(outbox.id, outboxId)).run();
      suppressAddress(tx, deps.messages.secrets, { emailKey: contact.emailKey, domain: domainOf(contact.emailKey), listId: null, reason: 'bounced', source: `smtp ${error.responseCode ?? '5xx'}`, at });
      recordConsent(tx, { contactId: contact.id, listId: null, action: 'suppressed', at, detail: `bounced: ${error.message}` });
    });
    deps.metrics.sends.inc({ outcome: 'bounced' });
    logger.warn({ outboxId, to: maskEmail(contact.email), code: error.responseCode }, 'permanent SMTP failure: address suppressed as bounced');
    return 'bounced';
  }
  stopTimer({ outcome: 'sent' });
  // Marked right after the SMTP server accepted it: a retry or a re-handed row now finds it done.
  markSent(db).run({ outboxId, sentAt: Date.now() });
  deps.metrics.sends.inc({ outcome: 'sent' });
  logger.info({ outboxId, kind: message.kind, to: maskEmail(contact.email) }, 'message sent');
  return 'sent';
}

/** Gives up on a message still waiting to be sent; a row already sent or dropped keeps its status. Returns whether it changed. */
export function markDeliveryFailed(db: Db, outboxId: string, reason: string): boolean {
  return db.update(outbox).set({ status: 'failed', lastError: reason }).where(and(eq(outbox.id, outboxId), eq(outbox.status, 'queued'))).run().changes > 0;
}
