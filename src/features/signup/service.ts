import { findListBySlug } from '../lists/index.js';
import { randomUUID } from 'node:crypto';
import { and, eq, fillPlaceholders, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { Row, Scope } from '../../platform/db/database.js';
import { preparedPerHandle } from '../../platform/db/prepared.js';
import { AppError } from '../../errors.js';
import type { Locale } from '../../platform/locales/locale.js';
import { parseAddress } from '../../platform/mail/address.js';
import { recordConsent, type RequestOrigin } from '../policy/index.js';
import { signupConsentVersion } from '../consent/index.js';
import { mayMail, type ConfirmLimits } from '../policy/index.js';
import { CONFIRM_TOKEN_TTL_MS } from '../../platform/http/tokens.js';

export interface SignupRequest {
  email: string;
  listSlug: string;
  locale: Locale;
  name: string | null;
  origin: RequestOrigin;
  /** The consent statement version the form carried (`consent`); checked against the list. */
  consentVersion?: string | null;
  /** The per-address limits; the subscription service fills in its own (CONFIRM_COOLDOWN, CONFIRM_MAX) when left out. */
  confirmLimits?: ConfirmLimits;
  /** The person kept the address they typed after "Did you mean …?": the typo check is skipped (only it). */
  acceptTypo?: boolean;
}

export interface SignupOutcome {
  /** The thank-you URL of the list, when it has one. */
  thankYouUrl: string | null;
  /** The outbox row of the confirmation email, when one was written. */
  outboxId: string | null;
}

// The signup path's statements, prepared once per scope (see preparedPerHandle).
const contactByKey = preparedPerHandle((scope: Scope) => {
  const { contacts } = scope.tables;
  return scope.db
    .select()
    .from(contacts)
    .where(eq(contacts.emailKey, sql.placeholder('emailKey')))
    .prepare('subscribe_contact_by_key');
});
const subscriptionOf = preparedPerHandle((scope: Scope) => {
  const { subscriptions } = scope.tables;
  return scope.db
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.contactId, sql.placeholder('contactId')), eq(subscriptions.listId, sql.placeholder('listId'))))
    .prepare('subscribe_subscription_of');
});
// No name: it stays on the pending request until that request is confirmed.
const insertContact = preparedPerHandle((scope: Scope) => {
  const { contacts } = scope.tables;
  return scope.db
    .insert(contacts)
    .values({
      email: sql.placeholder('email'),
      emailKey: sql.placeholder('emailKey'),
      locale: sql.placeholder('locale'),
      createdAt: sql.placeholder('createdAt'),
    })
    .returning()
    .prepare('subscribe_insert_contact');
});
const insertPendingSubscription = preparedPerHandle((scope: Scope) => {
  const { subscriptions } = scope.tables;
  return scope.db
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
    .prepare('subscribe_insert_pending_subscription');
});
const confirmedSubscriptionOf = preparedPerHandle((scope: Scope) => {
  const { subscriptions } = scope.tables;
  return scope.db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.contactId, sql.placeholder('contactId')), eq(subscriptions.status, 'confirmed')))
    .limit(1)
    .prepare('subscribe_confirmed_subscription_of');
});
const insertConfirmationMessage = preparedPerHandle((scope: Scope) => {
  const { outbox } = scope.tables;
  return scope.db
    .insert(outbox)
    .values({
      id: sql.placeholder('id'),
      kind: 'confirmation',
      subscriptionId: sql.placeholder('subscriptionId'),
      status: 'queued',
      createdAt: sql.placeholder('createdAt'),
      // Claimed by the relay of the process that wrote it (see the note on requestSubscription).
      handedAt: sql.placeholder('createdAt'),
    })
    .prepare('subscribe_insert_confirmation_message');
});

/**
 * PostgreSQL: a first signup's four rows (the contact, its pending subscription, the consent
 * event, the confirmation's outbox row) in one statement, so one round trip instead of four;
 * each round trip costs the process a socket write and a wake-up, most of a signup's CPU there.
 * Data-modifying CTEs run in one statement, in the caller's transaction (and savepoint), and the
 * foreign keys are checked at its end, when all four rows exist. SQLite has no INSERT in a WITH,
 * and no round trips to save: it runs the four inserts below. Same columns, same values.
 */
function firstSignupInsert(scope: Scope) {
  const { contacts, subscriptions, consentEvents, outbox } = scope.tables;
  const p = (name: string) => sql.placeholder(name);
  const columns = (...names: { name: string }[]) =>
    sql.join(
      names.map((column) => sql.identifier(column.name)),
      sql`, `,
    );
  const query = sql`with new_contact as (
      insert into ${contacts} (${columns(contacts.email, contacts.emailKey, contacts.locale, contacts.createdAt)})
      values (${p('email')}, ${p('emailKey')}, ${p('locale')}, ${p('createdAt')})
      returning ${sql.identifier(contacts.id.name)} as contact_id
    ), new_subscription as (
      insert into ${subscriptions} (${columns(subscriptions.contactId, subscriptions.listId, subscriptions.status, subscriptions.createdAt, subscriptions.confirmExpiresAt, subscriptions.pendingName)})
      select contact_id, ${p('listId')}, 'pending', ${p('createdAt')}, ${p('confirmExpiresAt')}, ${p('pendingName')} from new_contact
      returning ${sql.identifier(subscriptions.id.name)} as subscription_id, ${sql.identifier(subscriptions.contactId.name)} as contact_id
    ), new_consent_event as (
      insert into ${consentEvents} (${columns(consentEvents.contactId, consentEvents.listId, consentEvents.action, consentEvents.at, consentEvents.ip, consentEvents.userAgent, consentEvents.source, consentEvents.detail, consentEvents.consentVersion)})
      select contact_id, ${p('listId')}, 'subscribe_requested', ${p('createdAt')}, ${p('ip')}, ${p('userAgent')}, ${p('source')}, null, ${p('consentVersion')} from new_subscription
    )
    insert into ${outbox} (${columns(outbox.id, outbox.kind, outbox.subscriptionId, outbox.status, outbox.createdAt, outbox.handedAt)})
    select ${p('outboxId')}, 'confirmation', subscription_id, 'queued', ${p('createdAt')}, ${p('createdAt')} from new_subscription`;
  const { sql: text, params } = new PgDialect().sqlToQuery(query);
  const client = (scope.db as unknown as { $client: Pick<pg.ClientBase, 'query'> }).$client;
  return async (values: {
    email: string;
    emailKey: string;
    locale: string;
    createdAt: number;
    listId: number;
    confirmExpiresAt: number;
    pendingName: string | null;
    ip: string | null;
    userAgent: string | null;
    source: string | null;
    consentVersion: string | null;
    outboxId: string;
  }) => {
    const { rowCount } = await client.query({ name: 'subscribe_insert_first_signup', text }, fillPlaceholders(params, values));
    if (rowCount !== 1) throw new Error(`a first signup wrote ${rowCount} outbox rows instead of 1`);
  };
}
const insertFirstSignup = preparedPerHandle(firstSignupInsert);

/** Addresses each open PostgreSQL transaction holds the lock of (see lockAddresses). */
const lockedAddresses = new WeakMap<Scope, Set<string>>();

/**
 * Makes the caller's transaction the only one, in any process, that may read and change what
 * concerns these addresses (their contact, subscriptions and confirmation budget) until it ends.
 *
 * SQLite: nothing to do, BEGIN IMMEDIATE already made the transaction the file's only writer.
 * PostgreSQL (READ COMMITTED): two API processes could otherwise both read "no confirmation sent
 * yet" for one address and both queue one, past the list-bombing caps. A row lock cannot do it:
 * for a first signup the contact row does not exist yet. So: a transaction-scoped advisory lock
 * on hashtext(emailKey), held until commit or rollback (a savepoint's rollback keeps it). A hash
 * collision only makes two addresses wait for each other, never both pass.
 * The locks are taken in one statement in hash order: a group commit locks many addresses, and
 * two of them taking the same ones in different orders would deadlock.
 */
export async function lockAddresses(tx: Scope, emailKeys: readonly string[]): Promise<void> {
  if (tx.dialect !== 'postgresql') return;
  let held = lockedAddresses.get(tx);
  if (!held) lockedAddresses.set(tx, (held = new Set()));
  const wanted = [...new Set(emailKeys)].filter((key) => !held.has(key));
  if (wanted.length === 0) return;
  await tx.db.execute(
    sql`select pg_advisory_xact_lock(k) from (select distinct hashtext(key) as k from unnest(${sql.param(wanted)}::text[]) as key order by k) as keys`,
  );
  for (const key of wanted) held.add(key);
}

/**
 * Records a signup as a pending subscription and writes its confirmation email to the outbox,
 * inside the caller's transaction (the subscription service's group commit, see signupBatch.ts).
 * The outcome is the same for new, pending, confirmed and opted-out addresses as far as the
 * caller's answer goes; only the outbox row differs.
 *
 * The confirmation row is written already stamped handed (handedAt = its createdAt): the
 * subscription service hands its job right after the commit, and a separate write to stamp it
 * was a whole transaction per signup at a quiet rate. If the job cannot be added the relay clears
 * the stamp; if the process dies in between, any relay hands the row once OUTBOX_REHAND_MS has
 * passed (needsRehand finds no job), and a restarted process at once (its sweep on connect).
 */
export async function requestSubscription(
  tx: Scope,
  secrets: readonly string[],
  request: SignupRequest & { confirmLimits: ConfirmLimits },
  options: {
    now?: number;
    /** The list named by request.listSlug, when the caller read it already in this transaction (the group commit reads each list once). */
    list?: Row<'lists'>;
  } = {},
): Promise<SignupOutcome> {
  const now = options.now ?? Date.now();
  const { contacts, subscriptions } = tx.tables;
  const parsed = parseAddress(request.email);
  if (!parsed.ok) throw new AppError(400, 'invalid_email', parsed.message);
  const { address } = parsed;

  // Before the mail policy reads: two processes can't both pass the per-address limits and both
  // queue a confirmation (see lockAddresses; on SQLite the transaction is the only writer).
  await lockAddresses(tx, [address.emailKey]);
  const list = options.list ?? (await findListBySlug(tx, request.listSlug));
  // Checked for every address alike, before anything about the address is read: the answer reveals nothing.
  const consentVersion = await signupConsentVersion(tx, list, request.consentVersion);
  const outcome: SignupOutcome = { thankYouUrl: list.thankYouUrl, outboxId: null };
  const confirmExpiresAt = now + CONFIRM_TOKEN_TTL_MS;

  const [existingContact] = await contactByKey(tx).execute({ emailKey: address.emailKey });
  const [existing] = existingContact ? await subscriptionOf(tx).execute({ contactId: existingContact.id, listId: list.id }) : [];
  if (existing?.status === 'confirmed') return outcome;

  const decision = await mayMail(tx, secrets, {
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

  if (!existingContact && tx.dialect === 'postgresql') {
    const outboxId = randomUUID();
    await insertFirstSignup(tx)({
      email: address.email,
      emailKey: address.emailKey,
      locale: request.locale,
      createdAt: now,
      listId: list.id,
      confirmExpiresAt,
      pendingName: request.name,
      ip: request.origin.ip,
      userAgent: request.origin.userAgent,
      source: request.origin.source,
      consentVersion,
      outboxId,
    });
    outcome.outboxId = outboxId;
    return outcome;
  }

  const contact =
    existingContact ??
    (await insertContact(tx).execute({ email: address.email, emailKey: address.emailKey, locale: request.locale, createdAt: now }))[0]!;
  // The language of a person confirmed on some list is theirs; an unconfirmed request doesn't change it.
  if (
    existingContact &&
    existingContact.locale !== request.locale &&
    (await confirmedSubscriptionOf(tx).execute({ contactId: contact.id })).length === 0
  ) {
    await tx.db.update(contacts).set({ locale: request.locale }).where(eq(contacts.id, contact.id));
  }

  let subscriptionId: number;
  if (existing) {
    subscriptionId = existing.id;
    await tx.db
      .update(subscriptions)
      .set({ status: 'pending', confirmExpiresAt, unsubscribedAt: null, endedByLink: null, pendingName: request.name })
      .where(eq(subscriptions.id, existing.id));
  } else {
    subscriptionId = (
      await insertPendingSubscription(tx).execute({
        contactId: contact.id,
        listId: list.id,
        createdAt: now,
        confirmExpiresAt,
        pendingName: request.name,
      })
    )[0]!.id;
  }
  await recordConsent(tx, {
    contactId: contact.id,
    listId: list.id,
    action: 'subscribe_requested',
    at: now,
    origin: request.origin,
    consentVersion,
  });

  const outboxId = randomUUID();
  await insertConfirmationMessage(tx).execute({ id: outboxId, subscriptionId, createdAt: now });
  outcome.outboxId = outboxId;
  return outcome;
}
