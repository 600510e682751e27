import { CANCELLED } from '../broadcasts/index.js';
import { and, eq, sql } from 'drizzle-orm';
import { writeAlone, type Database, type Scope } from '../../platform/db/database.js';
import { preparedPerHandle } from '../../platform/db/prepared.js';
import type { Logger } from '../../logger.js';
import { maskEmail } from '../../logger.js';
import { decodeLocalizedText, listName, localize } from '../../platform/locales/localizedText.js';
import { listSender } from '../lists/index.js';
import { composeMessage, type MessageContext } from '../../platform/mail/compose.js';
import { receivesExactly } from '../../platform/mail/envelope.js';
import type { Metrics } from '../../metrics.js';
import { isLocale, DEFAULT_LOCALE } from '../../platform/locales/locale.js';
import { RecipientRefusedError } from '../../platform/mail/sendErrors.js';
import type { Mailer } from '../../platform/mail/transport.js';
import { domainOf } from '../../platform/mail/address.js';
import { recordChanges } from '../changes/index.js';
import { recordConsent } from '../policy/index.js';
import { mayMail, type ConfirmLimits } from '../policy/index.js';
import { suppressAddress } from '../policy/index.js';
import { loggableMessage } from '../../platform/queue/logErrors.js';
import { contentLocale, type BroadcastRenderer } from '../broadcasts/index.js';

export interface DeliveryDeps {
  database: Database;
  mailer: Mailer;
  messages: MessageContext;
  confirmLimits: ConfirmLimits;
  logger: Logger;
  metrics: Pick<Metrics, 'sends' | 'sendDuration'>;
  /** Broadcasts' words, rendered once per broadcast and locale. */
  broadcasts: BroadcastRenderer;
}

/** `held`: a paused broadcast's message, left queued and unhanded for when it resumes. */
export type DeliveryOutcome = 'sent' | 'already_done' | 'dropped' | 'bounced' | 'held';

// The per-message statements, prepared once per scope (see preparedPerHandle): on PostgreSQL the
// ones that write are rebuilt in each transaction, so they run inside it.
const outboxMessage = preparedPerHandle((scope: Scope) => {
  const { broadcasts, contacts, lists, outbox, subscriptions } = scope.tables;
  return scope.db
    .select({
      message: outbox,
      subscription: subscriptions,
      contact: contacts,
      list: lists,
      broadcast: { status: broadcasts.status, subject: broadcasts.subject, body: broadcasts.body, format: broadcasts.format },
    })
    .from(outbox)
    .leftJoin(broadcasts, eq(broadcasts.id, outbox.broadcastId))
    .leftJoin(subscriptions, eq(subscriptions.id, outbox.subscriptionId))
    .leftJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .leftJoin(lists, eq(lists.id, subscriptions.listId))
    .where(eq(outbox.id, sql.placeholder('outboxId')))
    .prepare('deliver_outbox_message');
});
/** Counts the attempt on a row still queued; none counted means another worker finished it since it was read. */
const countAttempt = preparedPerHandle((scope: Scope) => {
  const { outbox } = scope.tables;
  return scope.db
    .update(outbox)
    .set({ attempts: sql`${outbox.attempts} + 1` })
    .where(and(eq(outbox.id, sql.placeholder('outboxId')), eq(outbox.status, 'queued')))
    .returning({ id: outbox.id })
    .prepare('deliver_count_attempt');
});
/**
 * Exactly once with many workers: the sent-mark is conditional (`status = 'queued'`) and says
 * which row it changed, so of several workers racing for one row (a stalled job taken over, a
 * row handed again) exactly one marks it; the others find 0 rows and know it is done. On
 * PostgreSQL READ COMMITTED re-checks the condition on the row the winner committed.
 */
const markSent = preparedPerHandle((scope: Scope) => {
  const { outbox } = scope.tables;
  return scope.db
    .update(outbox)
    .set({ status: 'sent', sentAt: sql`${sql.placeholder('sentAt')}`, lastError: null })
    .where(and(eq(outbox.id, sql.placeholder('outboxId')), eq(outbox.status, 'queued')))
    .returning({ id: outbox.id })
    .prepare('deliver_mark_sent');
});

/** Tries of the sent-mark, and the pause before each retry: a failed mark would have the job sent again. */
const MARK_SENT_RETRY_DELAYS_MS = [100, 500, 2000];

/**
 * The sent-mark, retried a few times: the message is already with the SMTP server, so a mark
 * lost to a passing database fault (a dropped pooled connection, a failover) would end in the
 * job's retry sending it a second time.
 */
async function markSentSoon(database: Database, outboxId: string, logger: Logger) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await writeAlone(database, (tx) => markSent(tx).execute({ outboxId, sentAt: Date.now() }));
    } catch (error) {
      const delay = MARK_SENT_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) throw error;
      logger.warn({ outboxId, err: loggableMessage(error), retryInMs: delay }, 'message sent, but marking it sent failed; trying again');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function loadOutboxMessage(scope: Scope, outboxId: string) {
  return (await outboxMessage(scope).execute({ outboxId }))[0];
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
  const { database, logger } = deps;
  const row = await loadOutboxMessage(database, outboxId);
  if (!row || row.message.status !== 'queued') return 'already_done';
  const { message, subscription, contact, list, broadcast } = row;
  // A broadcast that is not sending (paused, or back to draft) keeps its rows queued: they are
  // given back to its relay (handedAt cleared), which hands them again once it sends.
  if (message.broadcastId !== null && broadcast !== null && broadcast.status !== 'sending' && broadcast.status !== 'cancelled') {
    await writeAlone(database, (tx) =>
      tx.db
        .update(tx.tables.outbox)
        .set({ handedAt: null })
        .where(and(eq(tx.tables.outbox.id, outboxId), eq(tx.tables.outbox.status, 'queued'))),
    );
    return 'held';
  }

  const decision = await mayMail(database, deps.messages.secrets, {
    emailKey: contact?.emailKey ?? null,
    listId: subscription?.listId ?? 0,
    kind: message.kind,
    subscriptionStatus: subscription?.status ?? null,
    confirmExpiresAt: subscription?.confirmExpiresAt ?? null,
    confirmBudget: { contactId: contact?.id ?? null, outboxId, requestedAt: message.createdAt, limits: deps.confirmLimits },
    goodbye: subscription
      ? { subscriptionId: subscription.id, unsubscribedAt: subscription.unsubscribedAt, requestedAt: message.createdAt, outboxId }
      : undefined,
    dataLinkRequestedAt: message.createdAt,
    now,
  });
  // The decision was made on the contact's key: a stored address that SMTP would receive as
  // another mailbox (a quoted spelling written before such spellings were refused) is not sent.
  const recipientMismatch = contact !== null && !receivesExactly(contact);
  // A cancelled broadcast's rows were all given up by the cancel; one in flight then is too.
  const cancelled = broadcast?.status === 'cancelled';
  if (!decision.allowed || !subscription || !contact || !list || recipientMismatch || cancelled) {
    const reason = cancelled
      ? CANCELLED
      : !decision.allowed
        ? decision.reason
        : recipientMismatch
          ? 'recipient_mismatch'
          : 'subscription_gone';
    // Only a row still queued is dropped: one another worker has sent meanwhile stays sent.
    const dropped = await writeAlone(database, (tx) =>
      tx.db
        .update(tx.tables.outbox)
        .set({ status: 'dropped', lastError: reason })
        .where(and(eq(tx.tables.outbox.id, outboxId), eq(tx.tables.outbox.status, 'queued')))
        .returning({ id: tx.tables.outbox.id }),
    );
    if (dropped.length === 0) return 'already_done';
    deps.metrics.sends.inc({ outcome: 'dropped' });
    if (reason === 'recipient_mismatch')
      logger.warn({ outboxId, kind: message.kind, reason }, 'message dropped: SMTP would not receive the address the decision was made on');
    else logger.info({ outboxId, kind: message.kind, reason }, 'message dropped by the mail policy');
    return 'dropped';
  }

  const contactLocale = isLocale(contact.locale) ? contact.locale : DEFAULT_LOCALE;
  let messages = deps.messages;
  let locale = contactLocale;
  if (message.broadcastId !== null && broadcast !== null) {
    // The broadcast's words in the recipient's locale (else the default, else the first written), in that locale's layout.
    const content = deps.broadcasts.content(message.broadcastId, broadcast);
    locale = contentLocale(content, contactLocale);
    messages = {
      ...deps.messages,
      templates: new Map([[`${locale}/broadcast`, await deps.broadcasts.render(message.broadcastId, content, locale)]]),
    };
  }
  const inLocale = (stored: string | null) => (stored === null ? null : localize(decodeLocalizedText(stored), locale));
  const outgoing = composeMessage(
    messages,
    {
      outboxId,
      kind: message.kind,
      to: contact.email,
      locale,
      broadcastId: message.broadcastId,
      name: subscription.status === 'confirmed' ? contact.name : null,
      subscriptionId: subscription.id,
      listSlug: list.slug,
      listName: listName(list, locale),
      confirmExpiresAt: subscription.confirmExpiresAt,
      requestedAt: message.createdAt,
      from: listSender(list, deps.messages.mailFrom),
      listDescription: inLocale(list.description),
      welcomeMarkdown: inLocale(list.welcomeMessage),
    },
    now,
  );
  const counted = await writeAlone(database, (tx) => countAttempt(tx).execute({ outboxId }));
  if (counted.length === 0) return 'already_done';

  // The SMTP call is never inside a transaction: on SQLite it would hold the write lock for the
  // whole conversation, on PostgreSQL a pooled connection and the row's lock.
  const stopTimer = deps.metrics.sendDuration.startTimer();
  try {
    await deps.mailer.send(outgoing);
  } catch (error) {
    if (!(error instanceof RecipientRefusedError)) {
      stopTimer({ outcome: 'retry' });
      // Only a row still waiting: one dropped meanwhile (an erasure) keeps what it says.
      await writeAlone(database, (tx) =>
        tx.db
          .update(tx.tables.outbox)
          .set({ lastError: (error as Error).message })
          .where(and(eq(tx.tables.outbox.id, outboxId), eq(tx.tables.outbox.status, 'queued'))),
      );
      // Counted as "retry" here; the worker's failed handler counts "failed" once retries run out.
      deps.metrics.sends.inc({ outcome: 'retry' });
      throw error;
    }
    stopTimer({ outcome: 'bounced' });
    const at = Date.now();
    await database.transaction(async (tx) => {
      // A row another worker marked sent meanwhile keeps its status; the address is suppressed all the same.
      await tx.db
        .update(tx.tables.outbox)
        .set({ status: 'failed', lastError: error.message })
        .where(and(eq(tx.tables.outbox.id, outboxId), eq(tx.tables.outbox.status, 'queued')));
      const entry = await suppressAddress(tx, deps.messages.secrets, {
        emailKey: contact.emailKey,
        domain: domainOf(contact.emailKey),
        listId: null,
        reason: 'bounced',
        source: `smtp ${error.responseCode ?? '5xx'}`,
        at,
      });
      // A bounce is its own fact, kept beside an opt-out (a goodbye mail that bounces): told once, when new.
      if (entry.created) {
        await recordConsent(tx, { contactId: contact.id, listId: null, action: 'suppressed', at, detail: `bounced: ${error.message}` });
        await recordChanges(tx, [{ type: 'contact.suppressed', email: contact.emailKey, listId: null, reason: 'bounced', at }]);
      }
    });
    deps.metrics.sends.inc({ outcome: 'bounced' });
    logger.warn(
      { outboxId, to: maskEmail(contact.email), code: error.responseCode },
      'permanent SMTP failure: address suppressed as bounced',
    );
    return 'bounced';
  }
  stopTimer({ outcome: 'sent' });
  // Marked right after the SMTP server accepted it: a retry or a re-handed row now finds it done.
  const marked = await markSentSoon(database, outboxId, logger);
  deps.metrics.sends.inc({ outcome: 'sent' });
  if (marked.length === 0) {
    // Another worker raced us for this row and marked it first (see markSent).
    logger.warn({ outboxId, kind: message.kind }, 'message sent, but another worker had already marked it sent');
    return 'already_done';
  }
  logger.info({ outboxId, kind: message.kind, to: maskEmail(contact.email) }, 'message sent');
  return 'sent';
}

/**
 * Gives up on a message still waiting to be sent; a row already sent or dropped keeps its status
 * (the condition holds with many workers and relays: the first to change the row wins). Returns
 * whether it changed.
 */
export async function markDeliveryFailed(database: Database, outboxId: string, reason: string): Promise<boolean> {
  const changed = await writeAlone(database, (tx) => {
    const { outbox } = tx.tables;
    return tx.db
      .update(outbox)
      .set({ status: 'failed', lastError: reason })
      .where(and(eq(outbox.id, outboxId), eq(outbox.status, 'queued')))
      .returning({ id: outbox.id });
  });
  return changed.length > 0;
}
