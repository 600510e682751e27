import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/** Milliseconds since the epoch; one time unit everywhere keeps comparisons trivial. */
const timestamp = (name: string) => integer(name);

export const lists = sqliteTable('lists', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
  /** Where a plain HTML form is sent after signup; null → the built-in thank-you page. */
  thankYouUrl: text('thank_you_url'),
  createdAt: timestamp('created_at').notNull(),
});

export const contacts = sqliteTable('contacts', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  /** The address as typed (trimmed), with the domain in canonical ASCII form. */
  email: text('email').notNull(),
  /** Lower-cased canonical address: the identity used for every comparison. */
  emailKey: text('email_key').notNull().unique(),
  name: text('name'),
  locale: text('locale').notNull(),
  createdAt: timestamp('created_at').notNull(),
});

export const SUBSCRIPTION_STATUSES = ['pending', 'confirmed', 'unsubscribed'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

export const subscriptions = sqliteTable(
  'subscriptions',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    contactId: integer('contact_id')
      .notNull()
      .references(() => contacts.id, { onDelete: 'cascade' }),
    listId: integer('list_id')
      .notNull()
      .references(() => lists.id),
    status: text('status', { enum: SUBSCRIPTION_STATUSES }).notNull(),
    createdAt: timestamp('created_at').notNull(),
    /** When the current confirmation request stops being valid (pending only). */
    confirmExpiresAt: timestamp('confirm_expires_at'),
    confirmedAt: timestamp('confirmed_at'),
    unsubscribedAt: timestamp('unsubscribed_at'),
    /**
     * The name given with the current pending request. Anyone can write it, so it stays here and
     * reaches the contact (and so an email) only when that very request is confirmed.
     */
    pendingName: text('pending_name'),
    /**
     * The subscription whose unsubscribe link ended this one (itself, or another's "every list"):
     * only that link's resubscribe restores it. Null when no link ended it.
     */
    endedByLink: integer('ended_by_link'),
  },
  (t) => [
    uniqueIndex('subscriptions_contact_list').on(t.contactId, t.listId),
    index('subscriptions_status_expiry').on(t.status, t.confirmExpiresAt),
  ],
);

export const SUPPRESSION_REASONS = ['unsubscribed', 'bounced', 'complained', 'manual', 'erased'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/**
 * Addresses that must never be mailed. Lookups go through emailHash (a keyed hash of the
 * canonical address) so an entry keeps blocking after the address itself has been erased.
 * listId null means every list.
 */
export const suppressions = sqliteTable(
  'suppressions',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    emailHash: text('email_hash').notNull(),
    /** Lower-cased canonical address for display and search; null once the person has been erased. */
    email: text('email'),
    /** Lower-cased domain, kept for domain search. */
    domain: text('domain'),
    listId: integer('list_id').references(() => lists.id),
    reason: text('reason', { enum: SUPPRESSION_REASONS }).notNull(),
    source: text('source').notNull(),
    createdAt: timestamp('created_at').notNull(),
    /**
     * The subscription whose unsubscribe link created this entry: only that link's resubscribe
     * lifts it. Null for every other source, and once another opt-out lands on the same entry.
     */
    createdByLink: integer('created_by_link'),
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
 */
export const consentEvents = sqliteTable(
  'consent_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    contactId: integer('contact_id').references(() => contacts.id, { onDelete: 'set null' }),
    listId: integer('list_id').references(() => lists.id),
    action: text('action').notNull(),
    at: timestamp('at').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    source: text('source'),
    detail: text('detail'),
  },
  (t) => [index('consent_events_contact').on(t.contactId, t.at)],
);

export const MESSAGE_KINDS = ['confirmation', 'welcome'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];
export const OUTBOX_STATUSES = ['queued', 'sent', 'dropped', 'failed'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/**
 * Transactional outbox: every email starts as a row written in the same transaction as the
 * change that causes it. The relay hands rows to BullMQ (jobId = row id); the worker marks
 * them sent, so a row is mailed at most once however often it is handed over.
 */
export const outbox = sqliteTable(
  'outbox',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: MESSAGE_KINDS }).notNull(),
    subscriptionId: integer('subscription_id').references(() => subscriptions.id, { onDelete: 'set null' }),
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
export const webhookEvents = sqliteTable('webhook_events', {
  id: text('id').primaryKey(),
  provider: text('provider').notNull(),
  receivedAt: timestamp('received_at').notNull(),
});

/**
 * Data migrations that need the running service's configuration (keyed hashes need the
 * secrets), so they run as code at start-up rather than as SQL; each name runs once.
 */
export const dataMigrations = sqliteTable('data_migrations', {
  name: text('name').primaryKey(),
  appliedAt: timestamp('applied_at').notNull(),
});

/**
 * Mailgun signature tokens already used, kept until their timestamp leaves the tolerance
 * window: Mailgun signs only timestamp + token, so a signature block could otherwise be posted
 * again with other event data.
 */
export const webhookTokens = sqliteTable(
  'webhook_tokens',
  {
    token: text('token').primaryKey(),
    provider: text('provider').notNull(),
    /** The events the token's request carried: the same request again is a replay, not a forgery. */
    eventIds: text('event_ids').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
  },
  (t) => [index('webhook_tokens_expiry').on(t.expiresAt)],
);

/**
 * Admin console sessions ended by signing out. The session cookie is signed, not stored, so a
 * copy of it would otherwise work until it expires; a row lasts until then and is swept after.
 */
export const revokedAdminSessions = sqliteTable('revoked_admin_sessions', {
  sessionId: text('session_id').primaryKey(),
  expiresAt: timestamp('expires_at').notNull(),
});
