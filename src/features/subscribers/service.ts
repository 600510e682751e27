import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { preferencesUrl, unsubscribeUrl, type MessageContext } from '../../platform/mail/compose.js';
import { receivesExactly } from '../../platform/mail/envelope.js';
import { parseAddress } from '../../platform/mail/address.js';
import { mayMailMany, type MailDecision } from '../policy/index.js';
import { csvLine } from '../../platform/http/csv.js';
import { findListBySlug } from '../lists/index.js';

/** What building a subscriber's links needs: the public URL and the signing secrets. */
export type LinkContext = Pick<MessageContext, 'publicUrl' | 'secrets'>;

export interface Subscriber {
  email: string;
  name: string | null;
  locale: string;
  status: SubscriptionStatus;
  createdAt: string;
  confirmedAt: string | null;
  unsubscribedAt: string | null;
  /** The signed one-click link, the same one every mail of ours carries in List-Unsubscribe. */
  unsubscribeUrl: string;
  /** The person's preference centre (signed, no expiry), as every mail links to it. */
  preferencesUrl: string | null;
}

export interface SubscriberPage {
  items: Subscriber[];
  nextCursor: string | null;
}

export interface SubscriberQuery {
  status: SubscriptionStatus;
  /** Part of an address: matches every subscriber whose (lower-cased) address contains it. */
  q?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

export const MAX_SUBSCRIBER_PAGE = 1000;
export const MAX_MAILABLE_BATCH = 1000;

/** The status filter of a request, `confirmed` when none is given; anything else is a 400. */
export function statusOf(value: string | undefined): SubscriptionStatus {
  if (value === undefined || value === '') return 'confirmed';
  if ((SUBSCRIPTION_STATUSES as readonly string[]).includes(value)) return value as SubscriptionStatus;
  throw new AppError(400, 'invalid_status', `The status must be one of: ${SUBSCRIPTION_STATUSES.join(', ')}.`);
}

/** The page size of a request: 1 to 1000, 100 when none is given. */
export function subscriberLimitOf(value: string | undefined): number {
  if (value === undefined || value === '') return 100;
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > MAX_SUBSCRIBER_PAGE) {
    throw new AppError(400, 'invalid_limit', `The limit must be a whole number from 1 to ${MAX_SUBSCRIBER_PAGE}.`);
  }
  return Number(value);
}

/** The cursor is opaque to clients: the subscription id of the last item shown (pages go newest first). */
function encodeCursor(subscriptionId: number): string {
  return Buffer.from(`s${subscriptionId}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^s([1-9]\d{0,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new AppError(400, 'invalid_cursor', 'The cursor is not one this API gave out.');
  return Number(match[1]);
}

/** A subscriber's preference-centre link: the one every mail carries ("Manage your subscriptions"). */
function preferencesUrlOf(context: LinkContext, subscriptionId: number): string | null {
  return preferencesUrl(context, subscriptionId);
}

/** `%`, `_` and `\` typed in a search are letters, not LIKE wildcards. */
const likeContaining = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

interface SubscriberRow {
  id: number;
  status: SubscriptionStatus;
  createdAt: number;
  confirmedAt: number | null;
  unsubscribedAt: number | null;
  email: string;
  emailKey: string;
  name: string | null;
  locale: string;
}

/**
 * A list's subscriptions with one status, newest first, after a subscription id: served by the
 * index subscriptions_list_status (list_id, status, id), one short query per batch.
 */
async function subscriberRows(
  scope: Scope,
  listId: number,
  query: { status: SubscriptionStatus; q?: string | undefined; before?: number | undefined; limit: number },
): Promise<SubscriberRow[]> {
  const { subscriptions, contacts } = scope.tables;
  return scope.db
    .select({
      id: subscriptions.id,
      status: subscriptions.status,
      createdAt: subscriptions.createdAt,
      confirmedAt: subscriptions.confirmedAt,
      unsubscribedAt: subscriptions.unsubscribedAt,
      email: contacts.email,
      emailKey: contacts.emailKey,
      name: contacts.name,
      locale: contacts.locale,
    })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .where(
      and(
        eq(subscriptions.listId, listId),
        eq(subscriptions.status, query.status),
        query.before === undefined ? undefined : lt(subscriptions.id, query.before),
        query.q ? sql`${contacts.emailKey} like ${likeContaining(query.q)} escape '\\'` : undefined,
      ),
    )
    .orderBy(desc(subscriptions.id))
    .limit(query.limit);
}

/**
 * Confirmed rows that the gate (mayMail, as for a broadcast) refuses are left out: a suppressed
 * or unreachable address never appears as confirmed. Other statuses are shown as they are.
 */
async function gated(
  scope: Scope,
  secrets: readonly string[],
  listId: number,
  rows: SubscriberRow[],
  now: number,
): Promise<SubscriberRow[]> {
  if (rows.length === 0 || rows[0]!.status !== 'confirmed') return rows;
  const decisions = await mayMailMany(
    scope,
    secrets,
    rows.map((row) => ({ emailKey: row.emailKey, listId, kind: 'broadcast', subscriptionStatus: row.status, confirmExpiresAt: null, now })),
  );
  return rows.filter((row, i) => decisions[i]!.allowed && receivesExactly(row));
}

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

function subscriberOf(context: LinkContext, row: SubscriberRow): Subscriber {
  return {
    email: row.email,
    name: row.name,
    locale: row.locale,
    status: row.status,
    createdAt: new Date(row.createdAt).toISOString(),
    confirmedAt: iso(row.confirmedAt),
    unsubscribedAt: iso(row.unsubscribedAt),
    unsubscribeUrl: unsubscribeUrl(context, row.id),
    preferencesUrl: preferencesUrlOf(context, row.id),
  };
}

/** The list's id, or 404 `unknown_list`. */
async function listIdOf(scope: Scope, slug: string): Promise<number> {
  return (await findListBySlug(scope, slug)).id;
}

/**
 * One page of a list's subscribers with one status, newest first. A page of confirmed
 * subscribers is filled past the ones the gate leaves out, so it is short only at the end.
 */
export async function listSubscribers(
  scope: Scope,
  context: LinkContext,
  slug: string,
  query: SubscriberQuery,
  now = Date.now(),
): Promise<SubscriberPage> {
  const listId = await listIdOf(scope, slug);
  const items: SubscriberRow[] = [];
  let before = query.cursor ? decodeCursor(query.cursor) : undefined;
  let more = true;
  while (more && items.length <= query.limit) {
    const want = query.limit + 1 - items.length;
    const rows = await subscriberRows(scope, listId, { status: query.status, q: query.q, before, limit: want });
    more = rows.length === want;
    before = rows.at(-1)?.id;
    items.push(...(await gated(scope, context.secrets, listId, rows, now)));
  }
  const shown = items.slice(0, query.limit);
  return {
    items: shown.map((row) => subscriberOf(context, row)),
    nextCursor: items.length > query.limit ? encodeCursor(shown.at(-1)!.id) : null,
  };
}

/** Rows per export query: each batch is its own short query, so nothing stays open while a slow client reads. */
const EXPORT_BATCH = 1000;

/**
 * Every subscriber of a list with one status, newest first, one keyset batch at a time; pull it
 * lazily so a million rows never sit in memory. Confirmed ones pass the gate like a page does.
 */
export async function* subscriberBatches(
  scope: Scope,
  context: LinkContext,
  slug: string,
  status: SubscriptionStatus,
  now = Date.now(),
): AsyncGenerator<Subscriber[]> {
  const listId = await listIdOf(scope, slug);
  let before: number | undefined;
  for (;;) {
    const rows = await subscriberRows(scope, listId, { status, before, limit: EXPORT_BATCH });
    if (rows.length === 0) return;
    before = rows.at(-1)!.id;
    yield (await gated(scope, context.secrets, listId, rows, now)).map((row) => subscriberOf(context, row));
    if (rows.length < EXPORT_BATCH) return;
  }
}

export const SUBSCRIBER_CSV_HEADER = [
  'email',
  'name',
  'locale',
  'confirmed_at',
  'unsubscribe_url',
  'list_unsubscribe',
  'list_unsubscribe_post',
] as const;

/**
 * A list's subscribers as CSV text for a sending tool: the last two columns are the exact
 * List-Unsubscribe and List-Unsubscribe-Post header values to put on each message, so its
 * one-click unsubscribe lands here. Cells are formula-safe (csvLine).
 */
export async function* subscriberCsvChunks(batches: AsyncIterable<Subscriber[]>, onRows?: (rows: number) => void): AsyncGenerator<string> {
  yield csvLine(SUBSCRIBER_CSV_HEADER);
  let total = 0;
  for await (const batch of batches) {
    yield batch
      .map((s) =>
        csvLine([s.email, s.name, s.locale, s.confirmedAt, s.unsubscribeUrl, `<${s.unsubscribeUrl}>`, 'List-Unsubscribe=One-Click']),
      )
      .join('');
    total += batch.length;
    onRows?.(total);
  }
}

/** The same subscribers as newline-delimited JSON, one API item per line. */
export async function* subscriberNdjsonChunks(batches: AsyncIterable<Subscriber[]>): AsyncGenerator<string> {
  for await (const batch of batches) yield batch.map((s) => `${JSON.stringify(s)}\n`).join('');
}

export type NotMailableReason = 'not_subscribed' | 'pending' | 'unsubscribed' | 'suppressed' | 'invalid';

export interface MailableAnswer {
  mailable: string[];
  notMailable: { email: string; reason: NotMailableReason }[];
}

/**
 * Why the gate refused, in the words a sending tool acts on: the person's own opt-out
 * (an `unsubscribed` entry or an ended subscription) is `unsubscribed`; a bounce, complaint,
 * block or erasure is `suppressed`.
 */
function reasonOf(decision: Exclude<MailDecision, { allowed: true }>, status: SubscriptionStatus | null): NotMailableReason {
  if (decision.reason === 'suppressed:unsubscribed') return 'unsubscribed';
  if (decision.reason === 'erased' || decision.reason.startsWith('suppressed:')) return 'suppressed';
  if (status === 'pending') return 'pending';
  if (status === 'unsubscribed') return 'unsubscribed';
  return 'not_subscribed';
}

/**
 * "May I mail these, now, on this list?" for up to 1000 addresses, answered by the gate the
 * worker asks before every send (mayMail, as for a broadcast), in one batch. An address the
 * identity rule refuses (parseAddress: quoted spellings among them) is `invalid`. Each address
 * is answered in the spelling it was given, in the order given.
 */
export async function checkMailable(
  scope: Scope,
  secrets: readonly string[],
  slug: string,
  emails: readonly string[],
  now = Date.now(),
): Promise<MailableAnswer> {
  const listId = await listIdOf(scope, slug);
  const { contacts, subscriptions } = scope.tables;
  const parsed = emails.map((email) => ({ email, parsed: parseAddress(email) }));
  const keys = [...new Set(parsed.flatMap((p) => (p.parsed.ok ? [p.parsed.address.emailKey] : [])))];
  const known = new Map<string, { email: string; emailKey: string; status: SubscriptionStatus | null }>();
  for (let i = 0; i < keys.length; i += 500) {
    const rows = await scope.db
      .select({ email: contacts.email, emailKey: contacts.emailKey, status: subscriptions.status })
      .from(contacts)
      .leftJoin(subscriptions, and(eq(subscriptions.contactId, contacts.id), eq(subscriptions.listId, listId)))
      .where(inArray(contacts.emailKey, keys.slice(i, i + 500)));
    for (const row of rows) known.set(row.emailKey, row);
  }
  const valid = parsed.flatMap((p) => (p.parsed.ok ? [{ email: p.email, emailKey: p.parsed.address.emailKey }] : []));
  const decisions = await mayMailMany(
    scope,
    secrets,
    valid.map((v) => ({
      emailKey: v.emailKey,
      listId,
      kind: 'broadcast' as const,
      subscriptionStatus: known.get(v.emailKey)?.status ?? null,
      confirmExpiresAt: null,
      now,
    })),
  );
  const verdicts = new Map<string, NotMailableReason | null>();
  valid.forEach((v, i) => {
    const decision = decisions[i]!;
    const contact = known.get(v.emailKey);
    // The worker sends to the stored spelling; one SMTP would carry as another mailbox is not sent.
    if (decision.allowed) verdicts.set(v.emailKey, contact && receivesExactly(contact) ? null : 'invalid');
    else verdicts.set(v.emailKey, reasonOf(decision, contact?.status ?? null));
  });
  const answer: MailableAnswer = { mailable: [], notMailable: [] };
  for (const { email, parsed: result } of parsed) {
    const reason = result.ok ? verdicts.get(result.address.emailKey)! : 'invalid';
    if (reason === null) answer.mailable.push(email);
    else answer.notMailable.push({ email, reason });
  }
  return answer;
}
