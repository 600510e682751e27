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
  public: integer('public', { mode: 'boolean' }).notNull().default(false),
  /** An archived list takes no signups, keeps its history and honours every opt-out. */
  archivedAt: timestamp('archived_at'),
  /** Markdown for the welcome mail, as LocalizedText JSON; null: the built-in words only. */
  welcomeMessage: text('welcome_message'),
  /** Whether an opt-out by the page or the preference centre gets one short confirming mail. */
  goodbyeEmail: integer('goodbye_email', { mode: 'boolean' }).notNull().default(false),
  /** Whether a signup must carry the current consent statement's version. */
  requireConsent: integer('require_consent', { mode: 'boolean' }).notNull().default(false),
  /** Whether a request still unconfirmed after CONFIRM_REMINDER_AFTER gets its one reminder. */
  remindUnconfirmed: integer('remind_unconfirmed', { mode: 'boolean' }).notNull().default(true),
  /** The current consent statement (consent_texts.version); null: none written yet. */
  consentVersion: text('consent_version'),
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
  /** When the data no opt-out needs was removed (OPTOUT_RETENTION); null: not minimised. */
  minimizedAt: timestamp('minimized_at'),
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
    /** When the one reminder of this pending request was written (at most one per subscription: set once, never cleared). */
    remindedAt: timestamp('reminded_at'),
  },
  (t) => [
    uniqueIndex('subscriptions_contact_list').on(t.contactId, t.listId),
    index('subscriptions_status_expiry').on(t.status, t.confirmExpiresAt),
    // A list's subscribers by state, newest first (keyset on id), and the dashboard's counts.
    index('subscriptions_list_status').on(t.listId, t.status, t.id),
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
    /** The consent statement (consent_texts.version) in force for this event; null: none. */
    consentVersion: text('consent_version'),
  },
  (t) => [index('consent_events_contact').on(t.contactId, t.at), index('consent_events_list_action').on(t.listId, t.action, t.at)],
);

/**
 * erase_link and export_link: the one-time links to erase or download a person's data, mailed at
 * their request; reminder: the one reminder of a request still unconfirmed after CONFIRM_REMINDER_AFTER.
 */
export const MESSAGE_KINDS = ['confirmation', 'welcome', 'goodbye', 'broadcast', 'erase_link', 'export_link', 'reminder'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];
export const OUTBOX_STATUSES = ['queued', 'sent', 'dropped', 'failed'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];
/** The statuses a row of the mail history can have: only a message that has ended leaves the outbox. */
export const MAIL_HISTORY_STATUSES = ['sent', 'dropped'] as const;

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
    /** The broadcast this message belongs to (kind 'broadcast'); null for every other kind. */
    broadcastId: integer('broadcast_id').references(() => broadcasts.id),
    /**
     * A broadcast's row: when its recipient first opted out through this broadcast's own link, so
     * that the broadcast counts each recipient's opt-out once, however often they click.
     */
    optedOutAt: timestamp('opted_out_at'),
  },
  (t) => [
    index('outbox_status_created').on(t.status, t.createdAt),
    index('outbox_subscription').on(t.subscriptionId),
    index('outbox_broadcast_status').on(t.broadcastId, t.status),
  ],
);

/**
 * What stays of a sent or dropped outbox row once it is pruned (OUTBOX_RETENTION, by the sweep:
 * features/delivery/prune.ts): which mail, to which subscription, how it ended and when, so the
 * contact's record (console, API, the person's data download) still shows it, the confirmation
 * limits still count it, and a broadcast's own opt-out link still counts once. No address, body
 * or SMTP answer: a dropped message keeps only the short reason code the gate gave. Rows of a
 * subscription go with it (an erasure, an expired request).
 */
export const mailHistory = sqliteTable(
  'mail_history',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    subscriptionId: integer('subscription_id')
      .notNull()
      .references(() => subscriptions.id, { onDelete: 'cascade' }),
    /** A broadcast's message: the broadcast (its opt-out link finds the row by it and the subscription). */
    broadcastId: integer('broadcast_id').references(() => broadcasts.id),
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

export const BROADCAST_FORMATS = ['mjml', 'markdown'] as const;
export type BroadcastFormat = (typeof BROADCAST_FORMATS)[number];
export const BROADCAST_STATUSES = ['draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled'] as const;
export type BroadcastStatus = (typeof BROADCAST_STATUSES)[number];
/** `erased`: still queued when its person was erased, so never sent; its address is removed. */
export const WEBHOOK_DELIVERY_STATUSES = ['queued', 'delivered', 'failed', 'erased'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/**
 * A list's consent statement, one row per version: the words shown beside the signup box, as
 * JSON per locale. A version is a short hash of its words and is never changed nor deleted, so
 * every consent event can show the exact words it was given on.
 */
export const consentTexts = sqliteTable(
  'consent_texts',
  {
    version: text('version').primaryKey(),
    listId: integer('list_id')
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
export const broadcasts = sqliteTable(
  'broadcasts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    listId: integer('list_id')
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
    queuedThrough: integer('queued_through'),
    /** Opt-outs made through this broadcast's own links. */
    unsubscribed: integer('unsubscribed').notNull().default(0),
    /**
     * Its rows pruned from the outbox (OUTBOX_RETENTION, only once it has ended), by status: the
     * counts go on from these. prunedCancelled is the part of prunedDropped a cancel gave up.
     */
    prunedSent: integer('pruned_sent').notNull().default(0),
    prunedDropped: integer('pruned_dropped').notNull().default(0),
    prunedCancelled: integer('pruned_cancelled').notNull().default(0),
  },
  (t) => [index('broadcasts_status_send_at').on(t.status, t.sendAt)],
);

/** Outbound webhook receivers (Standard Webhooks). `events` is a JSON array of event types. */
export const webhookEndpoints = sqliteTable('webhook_endpoints', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  description: text('description'),
  events: text('events').notNull(),
  /** `whsec_…`, shown once when the endpoint is created. */
  secret: text('secret').notNull(),
  enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
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
export const webhookDeliveries = sqliteTable(
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
export const webhookAttempts = sqliteTable(
  'webhook_attempts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
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
export const dailyListStats = sqliteTable(
  'daily_list_stats',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    day: text('day').notNull(),
    listId: integer('list_id')
      .notNull()
      .references(() => lists.id),
    signups: integer('signups').notNull().default(0),
    confirmations: integer('confirmations').notNull().default(0),
    unsubscribes: integer('unsubscribes').notNull().default(0),
    /** Reminders written to unconfirmed requests (CONFIRM_REMINDER_AFTER). */
    reminders: integer('reminders').notNull().default(0),
  },
  (t) => [uniqueIndex('daily_list_stats_day_list').on(t.day, t.listId)],
);
