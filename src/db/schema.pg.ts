import { sql } from 'drizzle-orm';
import { bigint, index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { MESSAGE_KINDS, OUTBOX_STATUSES, SUBSCRIPTION_STATUSES, SUPPRESSION_REASONS } from './schema.js';

/**
 * The PostgreSQL twin of schema.ts: same tables, columns, indexes and exported names, so the
 * dialect is a choice of module. test/unit/schema-parity.test.ts fails when the two drift apart.
 * SQLite's INTEGER is 64-bit, hence bigint here; mode 'number' keeps it a JS number (ids and
 * epoch milliseconds stay far below 2^53).
 */
export { MESSAGE_KINDS, OUTBOX_STATUSES, SUBSCRIPTION_STATUSES, SUPPRESSION_REASONS };
export type { MessageKind, OutboxStatus, SubscriptionStatus, SuppressionReason } from './schema.js';

/** Milliseconds since the epoch; one time unit everywhere keeps comparisons trivial. */
const timestamp = (name: string) => bigint(name, { mode: 'number' });
/** By default, not always: `db copy` inserts the SQLite ids as they are (then moves the sequence on). */
const id = () => bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity();
const reference = (name: string) => bigint(name, { mode: 'number' });

export const lists = pgTable('lists', {
  id: id(),
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
  /** Where a plain HTML form is sent after signup; null → the built-in thank-you page. */
  thankYouUrl: text('thank_you_url'),
  createdAt: timestamp('created_at').notNull(),
});

export const contacts = pgTable('contacts', {
  id: id(),
  /** The address as typed (trimmed), with the domain in canonical ASCII form. */
  email: text('email').notNull(),
  /** Lower-cased canonical address: the identity used for every comparison. */
  emailKey: text('email_key').notNull().unique(),
  name: text('name'),
  locale: text('locale').notNull(),
  createdAt: timestamp('created_at').notNull(),
});

export const subscriptions = pgTable(
  'subscriptions',
  {
    id: id(),
    contactId: reference('contact_id')
      .notNull()
      .references(() => contacts.id, { onDelete: 'cascade' }),
    listId: reference('list_id')
      .notNull()
      .references(() => lists.id),
    status: text('status', { enum: SUBSCRIPTION_STATUSES }).notNull(),
    createdAt: timestamp('created_at').notNull(),
    /** When the current confirmation request stops being valid (pending only). */
    confirmExpiresAt: timestamp('confirm_expires_at'),
    confirmedAt: timestamp('confirmed_at'),
    unsubscribedAt: timestamp('unsubscribed_at'),
    /** See schema.ts: the name of the pending request, kept off the contact until confirmed. */
    pendingName: text('pending_name'),
    /** See schema.ts: the subscription whose unsubscribe link ended this one. */
    endedByLink: reference('ended_by_link'),
  },
  (t) => [
    uniqueIndex('subscriptions_contact_list').on(t.contactId, t.listId),
    index('subscriptions_status_expiry').on(t.status, t.confirmExpiresAt),
  ],
);

/**
 * Addresses that must never be mailed. Lookups go through emailHash (a keyed hash of the
 * canonical address) so an entry keeps blocking after the address itself has been erased.
 * listId null means every list.
 */
export const suppressions = pgTable(
  'suppressions',
  {
    id: id(),
    emailHash: text('email_hash').notNull(),
    /** Lower-cased canonical address for display and search; null once the person has been erased. */
    email: text('email'),
    /** Lower-cased domain, kept for domain search. */
    domain: text('domain'),
    listId: reference('list_id').references(() => lists.id),
    reason: text('reason', { enum: SUPPRESSION_REASONS }).notNull(),
    source: text('source').notNull(),
    createdAt: timestamp('created_at').notNull(),
    /** See schema.ts: the subscription whose unsubscribe link created this entry. */
    createdByLink: reference('created_by_link'),
  },
  (t) => [
    // One entry per address and scope; "every list" (null) is its own scope.
    uniqueIndex('suppressions_hash_all_lists').on(t.emailHash).where(sql`list_id is null`),
    uniqueIndex('suppressions_hash_list').on(t.emailHash, t.listId).where(sql`list_id is not null`),
    index('suppressions_created').on(t.createdAt, t.id),
    index('suppressions_email').on(t.email),
    index('suppressions_domain').on(t.domain, t.createdAt, t.id),
  ],
);

/**
 * Append-only proof of consent: what happened, when, from where, for which list.
 * contactId is null for events kept after an erasure (they then carry no personal data).
 * A trigger (migrations/pg, consent_log_append_only) refuses every UPDATE, as on SQLite.
 */
export const consentEvents = pgTable(
  'consent_events',
  {
    id: id(),
    contactId: reference('contact_id').references(() => contacts.id, { onDelete: 'set null' }),
    listId: reference('list_id').references(() => lists.id),
    action: text('action').notNull(),
    at: timestamp('at').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    source: text('source'),
    detail: text('detail'),
  },
  (t) => [index('consent_events_contact').on(t.contactId, t.at)],
);

/**
 * Transactional outbox: every email starts as a row written in the same transaction as the
 * change that causes it. The relay hands rows to BullMQ (jobId = row id); the worker marks
 * them sent, so a row is mailed at most once however often it is handed over.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: MESSAGE_KINDS }).notNull(),
    subscriptionId: reference('subscription_id').references(() => subscriptions.id, { onDelete: 'set null' }),
    status: text('status', { enum: OUTBOX_STATUSES }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    createdAt: timestamp('created_at').notNull(),
    /** Last time the relay handed the row to the queue. */
    handedAt: timestamp('handed_at'),
    sentAt: timestamp('sent_at'),
  },
  (t) => [
    index('outbox_status_created').on(t.status, t.createdAt),
    index('outbox_subscription').on(t.subscriptionId),
  ],
);

/** Provider events already applied, so a replayed webhook changes nothing. */
export const webhookEvents = pgTable('webhook_events', {
  id: text('id').primaryKey(),
  provider: text('provider').notNull(),
  receivedAt: timestamp('received_at').notNull(),
});

/** See schema.ts: start-up data migrations that need the secrets, each run once. */
export const dataMigrations = pgTable('data_migrations', {
  name: text('name').primaryKey(),
  appliedAt: timestamp('applied_at').notNull(),
});

/** See schema.ts: Mailgun signature tokens already used, until they leave the tolerance window. */
export const webhookTokens = pgTable(
  'webhook_tokens',
  {
    token: text('token').primaryKey(),
    provider: text('provider').notNull(),
    eventIds: text('event_ids').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
  },
  (t) => [index('webhook_tokens_expiry').on(t.expiresAt)],
);

/** See schema.ts: admin console sessions ended by signing out, until they would have expired. */
export const revokedAdminSessions = pgTable('revoked_admin_sessions', {
  sessionId: text('session_id').primaryKey(),
  expiresAt: timestamp('expires_at').notNull(),
});
