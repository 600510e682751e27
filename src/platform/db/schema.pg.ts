import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import {
  BROADCAST_FORMATS,
  BROADCAST_STATUSES,
  MAIL_HISTORY_STATUSES,
  MESSAGE_KINDS,
  OUTBOX_STATUSES,
  SUBSCRIPTION_STATUSES,
  SUPPRESSION_REASONS,
  WEBHOOK_DELIVERY_STATUSES,
} from './schema.js';

/**
 * The PostgreSQL twin of schema.ts: same tables, columns, indexes and exported names, so the
 * dialect is a choice of module. test/unit/schema-parity.test.ts fails when the two drift apart.
 * SQLite's INTEGER is 64-bit, hence bigint here; mode 'number' keeps it a JS number (ids and
 * epoch milliseconds stay far below 2^53).
 */
export {
  BROADCAST_FORMATS,
  BROADCAST_STATUSES,
  MAIL_HISTORY_STATUSES,
  MESSAGE_KINDS,
  OUTBOX_STATUSES,
  SUBSCRIPTION_STATUSES,
  SUPPRESSION_REASONS,
  WEBHOOK_DELIVERY_STATUSES,
};
export type {
  BroadcastFormat,
  BroadcastStatus,
  MessageKind,
  OutboxStatus,
  SubscriptionStatus,
  SuppressionReason,
  WebhookDeliveryStatus,
} from './schema.js';

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
  /**
   * The name per locale, as JSON (`{"en": "Weekly news", "fr": "La lettre hebdomadaire"}`), or
   * null; `name` stays the plain name every reader can fall back on (src/lists/localizedText.ts).
   */
  nameByLocale: text('name_by_locale'),
  /** What the list is, as LocalizedText JSON (a string, or an object per locale); null: none. */
  description: text('description'),
  /** Where a person goes after confirming; null → the built-in confirmed page. */
  confirmedUrl: text('confirmed_url'),
  /** The list's own sender; null → the site's (MAIL_FROM). */
  fromName: text('from_name'),
  fromEmail: text('from_email'),
  /** Offered on the preference page to people who are not on it. */
  public: boolean('public').notNull().default(false),
  /** An archived list takes no signups, keeps its history and honours every opt-out. */
  archivedAt: timestamp('archived_at'),
  /** Markdown for the welcome mail, as LocalizedText JSON; null: the built-in words only. */
  welcomeMessage: text('welcome_message'),
  /** Whether an opt-out by the page or the preference centre gets one short confirming mail. */
  goodbyeEmail: boolean('goodbye_email').notNull().default(false),
  /** Whether a signup must carry the current consent statement's version. */
  requireConsent: boolean('require_consent').notNull().default(false),
  /** See schema.ts: the one reminder of an unconfirmed request. */
  remindUnconfirmed: boolean('remind_unconfirmed').notNull().default(true),
  /** The current consent statement (consent_texts.version); null: none written yet. */
  consentVersion: text('consent_version'),
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
  /** When the data no opt-out needs was removed (OPTOUT_RETENTION); null: not minimised. */
  minimizedAt: timestamp('minimized_at'),
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
    /** See schema.ts: when the one reminder was written. */
    remindedAt: timestamp('reminded_at'),
  },
  (t) => [
    uniqueIndex('subscriptions_contact_list').on(t.contactId, t.listId),
    index('subscriptions_status_expiry').on(t.status, t.confirmExpiresAt),
    // A list's subscribers by state, newest first (keyset on id), and the dashboard's counts.
    index('subscriptions_list_status').on(t.listId, t.status, t.id),
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
    // One entry per address, scope and reason: each reason is a fact of its own (an admin block
    // landing on a person's opt-out is kept beside it, never folded into it). "Every list"
    // (null) is its own scope.
    uniqueIndex('suppressions_hash_all_lists')
      .on(t.emailHash, t.reason)
      .where(sql`list_id is null`),
    uniqueIndex('suppressions_hash_list')
      .on(t.emailHash, t.listId, t.reason)
      .where(sql`list_id is not null`),
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
    /** The consent statement (consent_texts.version) in force for this event; null: none. */
    consentVersion: text('consent_version'),
  },
  (t) => [index('consent_events_contact').on(t.contactId, t.at), index('consent_events_list_action').on(t.listId, t.action, t.at)],
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
    /** The broadcast this message belongs to (kind 'broadcast'); null for every other kind. */
    broadcastId: reference('broadcast_id').references(() => broadcasts.id),
    /** See schema.ts: when the recipient opted out through this broadcast's own link (counted once). */
    optedOutAt: timestamp('opted_out_at'),
  },
  (t) => [
    index('outbox_status_created').on(t.status, t.createdAt),
    index('outbox_subscription').on(t.subscriptionId),
    index('outbox_broadcast_status').on(t.broadcastId, t.status),
  ],
);

/** See schema.ts: the compact history of pruned outbox rows. */
export const mailHistory = pgTable(
  'mail_history',
  {
    id: id(),
    subscriptionId: reference('subscription_id')
      .notNull()
      .references(() => subscriptions.id, { onDelete: 'cascade' }),
    broadcastId: reference('broadcast_id').references(() => broadcasts.id),
    kind: text('kind', { enum: MESSAGE_KINDS }).notNull(),
    status: text('status', { enum: MAIL_HISTORY_STATUSES }).notNull(),
    /** Why a dropped message was dropped: the outbox row's short code (e.g. "suppressed:unsubscribed"); null when sent. */
    reason: text('reason'),
    createdAt: timestamp('created_at').notNull(),
    sentAt: timestamp('sent_at'),
    optedOutAt: timestamp('opted_out_at'),
  },
  (t) => [index('mail_history_subscription').on(t.subscriptionId, t.createdAt)],
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

/**
 * A list's consent statement, one row per version: the words shown beside the signup box, as
 * JSON per locale. A version is a short hash of its words and is never changed nor deleted, so
 * every consent event can show the exact words it was given on.
 */
export const consentTexts = pgTable(
  'consent_texts',
  {
    version: text('version').primaryKey(),
    listId: reference('list_id')
      .notNull()
      .references(() => lists.id),
    text: text('text').notNull(),
    createdAt: timestamp('created_at').notNull(),
  },
  (t) => [index('consent_texts_list').on(t.listId, t.createdAt)],
);

/**
 * A message to a list's confirmed subscribers. Subject and body are LocalizedText JSON. Its
 * recipients become outbox rows (kind 'broadcast') in batches, in subscription id order, so
 * `queuedThrough` is where the batching resumes after a restart.
 */
export const broadcasts = pgTable(
  'broadcasts',
  {
    id: id(),
    listId: reference('list_id')
      .notNull()
      .references(() => lists.id),
    subject: text('subject').notNull(),
    body: text('body').notNull(),
    format: text('format', { enum: BROADCAST_FORMATS }).notNull(),
    status: text('status', { enum: BROADCAST_STATUSES }).notNull(),
    sendAt: timestamp('send_at'),
    createdAt: timestamp('created_at').notNull(),
    startedAt: timestamp('started_at'),
    finishedAt: timestamp('finished_at'),
    /** Recipients taken when sending started. */
    total: integer('total').notNull().default(0),
    /** The last subscription id written to the outbox; null: none yet. */
    queuedThrough: reference('queued_through'),
    /** Opt-outs made through this broadcast's own links. */
    unsubscribed: integer('unsubscribed').notNull().default(0),
    /** See schema.ts: its rows pruned from the outbox, by status. */
    prunedSent: integer('pruned_sent').notNull().default(0),
    prunedDropped: integer('pruned_dropped').notNull().default(0),
    prunedCancelled: integer('pruned_cancelled').notNull().default(0),
  },
  (t) => [index('broadcasts_status_send_at').on(t.status, t.sendAt)],
);

/** Outbound webhook receivers (Standard Webhooks). `events` is a JSON array of event types. */
export const webhookEndpoints = pgTable('webhook_endpoints', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  description: text('description'),
  events: text('events').notNull(),
  /** `whsec_…`, shown once when the endpoint is created. */
  secret: text('secret').notNull(),
  enabled: boolean('enabled').notNull().default(true),
  /** Why the service disabled it (deliveries kept failing); null when enabled or disabled by an admin. */
  disabledReason: text('disabled_reason'),
  /** Since when every delivery has failed; null while the last one succeeded. */
  failingSince: timestamp('failing_since'),
  /**
   * Set when it is enabled again with deliveries waiting: the creation time of the newest of
   * them. Until every delivery created up to then has ended, its deliveries go one at a time,
   * oldest first, so the events held while it was off arrive in order; then null again.
   */
  backlogUntil: timestamp('backlog_until'),
  createdAt: timestamp('created_at').notNull(),
});

/**
 * One event for one endpoint: an outbox row written in the same transaction as the change, so
 * nothing is lost while Redis or the receiver is down. The id is the `webhook-id` header, the
 * same on every attempt, so a receiver can drop a second copy.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: text('id').primaryKey(),
    endpointId: text('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    eventType: text('event_type').notNull(),
    /** The exact body sent: `{"type","timestamp","data"}`. */
    payload: text('payload').notNull(),
    status: text('status', { enum: WEBHOOK_DELIVERY_STATUSES }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: timestamp('created_at').notNull(),
    /** Last time the relay handed the row to the queue. */
    handedAt: timestamp('handed_at'),
    finishedAt: timestamp('finished_at'),
  },
  (t) => [
    index('webhook_deliveries_status_created').on(t.status, t.createdAt),
    index('webhook_deliveries_endpoint_created').on(t.endpointId, t.createdAt),
    // The sweep's pruning finds the ended deliveries past OUTBOX_RETENTION oldest first (queued ones have none).
    index('webhook_deliveries_finished').on(t.finishedAt),
  ],
);

/** Each try of a delivery: what the receiver answered and how long it took. */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: id(),
    deliveryId: text('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    at: timestamp('at').notNull(),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
  },
  (t) => [index('webhook_attempts_delivery').on(t.deliveryId, t.at)],
);

/**
 * Signups, confirmations and unsubscribes per list and UTC day, kept up to date in the same
 * transaction as each change, so the dashboard reads 30 small rows instead of counting events.
 */
export const dailyListStats = pgTable(
  'daily_list_stats',
  {
    id: id(),
    day: text('day').notNull(),
    listId: reference('list_id')
      .notNull()
      .references(() => lists.id),
    signups: integer('signups').notNull().default(0),
    confirmations: integer('confirmations').notNull().default(0),
    unsubscribes: integer('unsubscribes').notNull().default(0),
    reminders: integer('reminders').notNull().default(0),
  },
  (t) => [uniqueIndex('daily_list_stats_day_list').on(t.day, t.listId)],
);
