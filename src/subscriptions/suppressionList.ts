import { domainToASCII } from 'node:url';
import { and, desc, eq, gte, inArray, isNull, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { contacts, lists, suppressions, type SuppressionReason } from '../db/schema.js';
import { AppError } from '../errors.js';
import { parseAddress, type CanonicalAddress } from './address.js';
import { recordConsent } from './consent.js';
import { findListBySlug } from './subscribe.js';
import { addressEntryConditions, suppressAddresses } from './suppression.js';

export interface SuppressionItem {
  id: number;
  /** null once the person has been erased: the entry still blocks the address by its hash. */
  email: string | null;
  reason: SuppressionReason;
  /** The list's slug; null means every list. */
  list: string | null;
  source: string;
  createdAt: string;
}

export interface SuppressionPage {
  items: SuppressionItem[];
  nextCursor: string | null;
}

export interface SuppressionQuery {
  /** An exact address (any case), a domain, or the start of an address. */
  q?: string;
  /** A list's slug, or "*" for the entries that cover every list. */
  list?: string;
  reason?: SuppressionReason;
  limit: number;
  cursor?: string;
}

interface Position {
  createdAt: number;
  id: number;
}

/** The cursor is opaque to clients: the (createdAt, id) of the last item shown. */
function encodeCursor(position: Position): string {
  return Buffer.from(`${position.createdAt}.${position.id}`).toString('base64url');
}

function decodeCursor(cursor: string): Position {
  const match = /^(\d{1,16})\.(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new AppError(400, 'invalid_cursor', 'The cursor is not one this API gave out.');
  return { createdAt: Number(match[1]), id: Number(match[2]) };
}

const columns = {
  id: suppressions.id,
  email: suppressions.email,
  reason: suppressions.reason,
  list: lists.slug,
  source: suppressions.source,
  createdAt: suppressions.createdAt,
};

/** Above this many matches a prefix is common enough to find by walking the newest-first index. */
const NARROW_PREFIX_ROWS = 5000;

/**
 * An address prefix, planned by how many entries it matches: a narrow one is a range on the
 * email index whose few rows are then sorted; a broad one walks the newest-first index and
 * filters (the unary + keeps SQLite off the email index), stopping after one page of matches.
 */
function prefixCondition(db: Pick<Db, 'select'>, text: string): SQL {
  const upper = `${text}\uffff`;
  const narrow = db
    .select({ id: suppressions.id })
    .from(suppressions)
    .where(and(gte(suppressions.email, text), lt(suppressions.email, upper)))
    .limit(NARROW_PREFIX_ROWS)
    .all().length < NARROW_PREFIX_ROWS;
  if (narrow) return and(gte(suppressions.email, text), lt(suppressions.email, upper))!;
  return sql`(+${suppressions.email} >= ${text} and +${suppressions.email} < ${upper})`;
}

/**
 * What `q` can mean, each as a condition one index serves in newest-first order (or a small
 * set of rows): the address's keyed hashes (finds erased entries too), its domain, or an
 * address prefix.
 */
function searchConditions(db: Pick<Db, 'select'>, secrets: readonly string[], q: string): SQL[] {
  const text = q.trim().toLowerCase();
  if (text === '') return [];
  const prefix = prefixCondition(db, text);
  if (!text.includes('@')) return [eq(suppressions.domain, domainToASCII(text) || text), prefix];
  const parsed = parseAddress(text);
  if (!parsed.ok) return [prefix];
  return [...addressEntryConditions(secrets, parsed.address.emailKey), prefix];
}

/** Newest first, keyset-paginated: each page is an index range scan whatever the table size. */
export function listSuppressions(db: Db, secrets: readonly string[], query: SuppressionQuery): SuppressionPage {
  const filters: SQL[] = [];
  if (query.reason) filters.push(eq(suppressions.reason, query.reason));
  if (query.list === '*') filters.push(isNull(suppressions.listId));
  else if (query.list) filters.push(eq(suppressions.listId, findListBySlug(db, query.list).id));
  if (query.cursor) {
    const after = decodeCursor(query.cursor);
    filters.push(sql`(${suppressions.createdAt}, ${suppressions.id}) < (${after.createdAt}, ${after.id})`);
  }
  const matches = query.q ? searchConditions(db, secrets, query.q) : [undefined];
  // Each way of matching is its own indexed query; merging their first pages gives the first page of the union.
  const byId = new Map<number, (typeof rows)[number]>();
  const rows = matches.flatMap((match) =>
    db
      .select(columns)
      .from(suppressions)
      .leftJoin(lists, eq(lists.id, suppressions.listId))
      .where(and(match, ...filters))
      .orderBy(desc(suppressions.createdAt), desc(suppressions.id))
      .limit(query.limit + 1)
      .all(),
  );
  for (const row of rows) byId.set(row.id, row);
  const merged = [...byId.values()].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
  const page = merged.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(toItem),
    nextCursor: merged.length > query.limit && last ? encodeCursor(last) : null,
  };
}

function toItem(row: { id: number; email: string | null; reason: SuppressionReason; list: string | null; source: string; createdAt: number }): SuppressionItem {
  return { id: row.id, email: row.email, reason: row.reason, list: row.list, source: row.source, createdAt: new Date(row.createdAt).toISOString() };
}

function suppressionItem(db: Pick<Db, 'select'>, id: number): SuppressionItem | undefined {
  const row = db.select(columns).from(suppressions).leftJoin(lists, eq(lists.id, suppressions.listId)).where(eq(suppressions.id, id)).get();
  return row && toItem(row);
}

function contactIdOf(db: Pick<Db, 'select'>, emailKey: string | null): number | null {
  if (emailKey === null) return null;
  return db.select({ id: contacts.id }).from(contacts).where(eq(contacts.emailKey, emailKey)).get()?.id ?? null;
}

export interface EntryByHand {
  address: CanonicalAddress;
  reason: SuppressionReason;
  listId: number | null;
  source: string;
}

/**
 * Suppresses canonical addresses by hand (admin form, API, CLI, CSV import), inside the caller's
 * transaction; each new entry for a known contact goes into its consent trail.
 */
export function suppressManyByHand(
  tx: Pick<Db, 'select' | 'insert' | 'update'>,
  secrets: readonly string[],
  entries: readonly EntryByHand[],
  now: number,
): { id: number; created: boolean }[] {
  const results = suppressAddresses(
    tx,
    secrets,
    entries.map((e) => ({ emailKey: e.address.emailKey, domain: e.address.domain, listId: e.listId, reason: e.reason, source: e.source, at: now })),
  );
  const createdKeys = [...new Set(entries.filter((_, i) => results[i]!.created).map((e) => e.address.emailKey))];
  const contactIds = new Map(
    createdKeys.length === 0
      ? []
      : tx.select({ id: contacts.id, emailKey: contacts.emailKey }).from(contacts).where(inArray(contacts.emailKey, createdKeys)).all().map((c) => [c.emailKey, c.id] as const),
  );
  entries.forEach((entry, i) => {
    const contactId = contactIds.get(entry.address.emailKey);
    if (results[i]!.created && contactId !== undefined) {
      recordConsent(tx, { contactId, listId: entry.listId, action: 'suppressed', at: now, detail: `${entry.reason} (${entry.source})` });
    }
  });
  return results;
}

/** An admin puts an address on the list by hand. Idempotent for the same address and list. */
export function addSuppression(
  db: Db,
  secrets: readonly string[],
  entry: { email: string; reason: SuppressionReason; list?: string; source: string },
  now = Date.now(),
): { item: SuppressionItem; created: boolean } {
  const parsed = parseAddress(entry.email);
  if (!parsed.ok) throw new AppError(400, 'invalid_email', parsed.message);
  return writeTransaction(db, (tx) => {
    const listId = entry.list ? findListBySlug(tx, entry.list).id : null;
    const [result] = suppressManyByHand(tx, secrets, [{ address: parsed.address, reason: entry.reason, listId, source: entry.source }], now);
    return { item: suppressionItem(tx, result!.id)!, created: result!.created };
  });
}

/** Lifts an entry: the address may be mailed again. The lift and its reason go into the consent log. */
export function liftSuppression(db: Db, lift: { id: number; reason: string | undefined; by: string }, now = Date.now()): void {
  writeTransaction(db, (tx) => {
    const entry = tx.select().from(suppressions).where(eq(suppressions.id, lift.id)).get();
    if (!entry) throw new AppError(404, 'unknown_suppression', `There is no suppression entry ${lift.id}.`);
    tx.delete(suppressions).where(eq(suppressions.id, entry.id)).run();
    recordConsent(tx, {
      contactId: contactIdOf(tx, entry.email),
      listId: entry.listId,
      action: 'suppression_lifted',
      at: now,
      detail: `entry ${entry.id} (${entry.reason}) lifted by ${lift.by}: ${lift.reason?.trim() || 'no reason given'}`,
    });
  });
}
