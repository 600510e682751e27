import { domainToASCII } from 'node:url';
import { and, desc, eq, gte, inArray, isNull, like, lt, notLike, sql, type SQL } from 'drizzle-orm';
import { forUpdate, type Database, type Scope, type Tables } from '../../platform/db/database.js';
import type { SuppressionReason } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { parseAddress, type CanonicalAddress } from '../../platform/mail/address.js';
import { recordChanges, type Change } from '../changes/index.js';
import { recordConsent } from '../policy/index.js';
import { findListBySlug } from '../lists/index.js';
import { addressEntryConditions, DOMAIN_KEY_PREFIX, isDomainKey, suppressAddresses, suppressDomain } from '../policy/index.js';

export interface SuppressionItem {
  id: number;
  /** null once the person has been erased (the entry still blocks the address by its hash), and for a domain block. */
  email: string | null;
  /** A domain block only: the domain (`spam.example`) or the domain and its subdomains (`*.spam.example`). */
  domain?: string;
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
  /** Only domain blocks, or only address entries. */
  kind?: 'domain' | 'address';
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

function columnsOf({ suppressions, lists }: Tables) {
  return {
    id: suppressions.id,
    email: suppressions.email,
    reason: suppressions.reason,
    list: lists.slug,
    source: suppressions.source,
    createdAt: suppressions.createdAt,
    emailHash: suppressions.emailHash,
  };
}

/** Above this many matches a prefix is common enough to find by walking the newest-first index. */
const NARROW_PREFIX_ROWS = 5000;

/**
 * An address prefix as a range: the addresses from `text` up to `text` followed by the highest
 * character, which means "starts with" only under byte-order comparison. SQLite compares BINARY;
 * PostgreSQL would use the database's collation (a linguistic one skips punctuation at first), so
 * there the range compares with COLLATE "C".
 *
 * On SQLite the range is planned by how many entries it matches: a narrow one is a range on the
 * email index whose few rows are then sorted; a broad one walks the newest-first index and
 * filters (the unary + keeps SQLite off the email index), stopping after one page of matches.
 * PostgreSQL's planner weighs that itself from its statistics (and unary + on text is an error there).
 */
async function prefixCondition(scope: Scope, text: string): Promise<SQL> {
  const { suppressions } = scope.tables;
  const upper = `${text}\uffff`;
  if (scope.dialect === 'postgresql') {
    const email = sql`(${suppressions.email} collate "C")`;
    return sql`(${email} >= ${text} and ${email} < ${upper})`;
  }
  const range = and(gte(suppressions.email, text), lt(suppressions.email, upper))!;
  const narrow =
    (await scope.db.select({ id: suppressions.id }).from(suppressions).where(range).limit(NARROW_PREFIX_ROWS)).length < NARROW_PREFIX_ROWS;
  if (narrow) return range;
  return sql`(+${suppressions.email} >= ${text} and +${suppressions.email} < ${upper})`;
}

/**
 * What `q` can mean, each as a condition one index serves in newest-first order (or a small
 * set of rows): the address's keyed hashes (finds erased entries too), its domain, or an
 * address prefix.
 */
async function searchConditions(scope: Scope, secrets: readonly string[], q: string): Promise<SQL[]> {
  const { suppressions } = scope.tables;
  const text = q.trim().toLowerCase();
  if (text === '') return [];
  const prefix = await prefixCondition(scope, text);
  if (!text.includes('@')) return [eq(suppressions.domain, domainToASCII(text) || text), prefix];
  const parsed = parseAddress(text);
  if (!parsed.ok) return [prefix];
  return [...addressEntryConditions(scope.tables, secrets, parsed.address.emailKey), prefix];
}

/** Newest first, keyset-paginated: each page is an index range scan whatever the table size. */
export async function listSuppressions(scope: Scope, secrets: readonly string[], query: SuppressionQuery): Promise<SuppressionPage> {
  const { suppressions, lists } = scope.tables;
  const filters: SQL[] = [];
  if (query.reason) filters.push(eq(suppressions.reason, query.reason));
  if (query.kind === 'domain') filters.push(like(suppressions.emailHash, `${DOMAIN_KEY_PREFIX}%`));
  else if (query.kind === 'address') filters.push(notLike(suppressions.emailHash, `${DOMAIN_KEY_PREFIX}%`));
  if (query.list === '*') filters.push(isNull(suppressions.listId));
  else if (query.list) filters.push(eq(suppressions.listId, (await findListBySlug(scope, query.list)).id));
  if (query.cursor) {
    const after = decodeCursor(query.cursor);
    filters.push(sql`(${suppressions.createdAt}, ${suppressions.id}) < (${after.createdAt}, ${after.id})`);
  }
  const matches = query.q ? await searchConditions(scope, secrets, query.q) : [undefined];
  // Each way of matching is its own indexed query; merging their first pages gives the first page of the union.
  const byId = new Map<number, (typeof rows)[number]>();
  const pages = await Promise.all(
    matches.map((match) =>
      scope.db
        .select(columnsOf(scope.tables))
        .from(suppressions)
        .leftJoin(lists, eq(lists.id, suppressions.listId))
        .where(and(match, ...filters))
        .orderBy(desc(suppressions.createdAt), desc(suppressions.id))
        .limit(query.limit + 1),
    ),
  );
  const rows = pages.flat();
  for (const row of rows) byId.set(row.id, row);
  const merged = [...byId.values()].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
  const page = merged.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(toItem),
    nextCursor: merged.length > query.limit && last ? encodeCursor(last) : null,
  };
}

function toItem(row: {
  id: number;
  email: string | null;
  reason: SuppressionReason;
  list: string | null;
  source: string;
  createdAt: number;
  emailHash: string;
}): SuppressionItem {
  return {
    id: row.id,
    email: row.email,
    ...(isDomainKey(row.emailHash) ? { domain: row.emailHash.slice(DOMAIN_KEY_PREFIX.length) } : {}),
    reason: row.reason,
    list: row.list,
    source: row.source,
    createdAt: new Date(row.createdAt).toISOString(),
  };
}

async function suppressionItem(scope: Scope, id: number): Promise<SuppressionItem | undefined> {
  const { suppressions, lists } = scope.tables;
  const [row] = await scope.db
    .select(columnsOf(scope.tables))
    .from(suppressions)
    .leftJoin(lists, eq(lists.id, suppressions.listId))
    .where(eq(suppressions.id, id));
  return row && toItem(row);
}

async function contactIdOf(scope: Scope, emailKey: string | null): Promise<number | null> {
  if (emailKey === null) return null;
  const { contacts } = scope.tables;
  const [contact] = await scope.db.select({ id: contacts.id }).from(contacts).where(eq(contacts.emailKey, emailKey));
  return contact?.id ?? null;
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
export async function suppressManyByHand(
  tx: Scope,
  secrets: readonly string[],
  entries: readonly EntryByHand[],
  now: number,
): Promise<{ id: number; created: boolean }[]> {
  const { contacts } = tx.tables;
  const results = await suppressAddresses(
    tx,
    secrets,
    entries.map((e) => ({
      emailKey: e.address.emailKey,
      domain: e.address.domain,
      listId: e.listId,
      reason: e.reason,
      source: e.source,
      at: now,
    })),
  );
  const createdKeys = [...new Set(entries.filter((_, i) => results[i]!.created).map((e) => e.address.emailKey))];
  const contactIds = new Map(
    createdKeys.length === 0
      ? []
      : (
          await tx.db.select({ id: contacts.id, emailKey: contacts.emailKey }).from(contacts).where(inArray(contacts.emailKey, createdKeys))
        ).map((c) => [c.emailKey, c.id] as const),
  );
  const changes: Change[] = [];
  for (const [i, entry] of entries.entries()) {
    if (!results[i]!.created) continue;
    const contactId = contactIds.get(entry.address.emailKey);
    if (contactId !== undefined) {
      await recordConsent(tx, {
        contactId,
        listId: entry.listId,
        action: 'suppressed',
        at: now,
        detail: `${entry.reason} (${entry.source})`,
      });
    }
    changes.push(changeOfEntryByHand(entry, now));
  }
  await recordChanges(tx, changes);
  return results;
}

/** An entry made by hand, as other systems are told: an opt-out the admin recorded, or a block. */
function changeOfEntryByHand(entry: EntryByHand, at: number): Change {
  const email = entry.address.emailKey;
  if (entry.reason === 'unsubscribed') return { type: 'subscription.unsubscribed', email, listId: entry.listId, source: 'admin', at };
  if (entry.reason === 'erased') return { type: 'contact.erased', email, at };
  return { type: 'contact.suppressed', email, listId: entry.listId, reason: entry.reason, at };
}

/** An admin puts an address on the list by hand. Idempotent for the same address and list. */
export async function addSuppression(
  database: Database,
  secrets: readonly string[],
  entry: { email: string; reason: SuppressionReason; list?: string; source: string },
  now = Date.now(),
): Promise<{ item: SuppressionItem; created: boolean }> {
  const parsed = parseAddress(entry.email);
  if (!parsed.ok) throw new AppError(400, 'invalid_email', parsed.message);
  return database.transaction(async (tx) => {
    const listId = entry.list ? (await findListBySlug(tx, entry.list)).id : null;
    const [result] = await suppressManyByHand(
      tx,
      secrets,
      [{ address: parsed.address, reason: entry.reason, listId, source: entry.source }],
      now,
    );
    return { item: (await suppressionItem(tx, result!.id))!, created: result!.created };
  });
}

/** `spam.example`, `*.spam.example` (IDN allowed): lower-cased, in punycode, two labels at least; else `400 invalid_domain`. */
export function parseDomainPattern(input: string): string {
  const text = input.trim().toLowerCase();
  const wildcard = text.startsWith('*.');
  const ascii = domainToASCII(wildcard ? text.slice(2) : text);
  const labels = ascii.split('.');
  const valid =
    ascii.length > 0 &&
    ascii.length <= 253 &&
    labels.length >= 2 &&
    labels.every((label) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) &&
    !/^\d+$/.test(labels.at(-1)!);
  if (!valid)
    throw new AppError(
      400,
      'invalid_domain',
      'The field "domain" must be a domain such as spam.example, or *.spam.example with its subdomains.',
    );
  return `${wildcard ? '*.' : ''}${ascii}`;
}

/**
 * An admin blocks a whole domain: the gate then refuses every address there (a signup answers
 * 202 and sends nothing, confirmed subscribers get nothing more, a broadcast drops them,
 * `mailable` answers `suppressed`). Idempotent for the same pattern, list and reason. A domain is
 * no person, so there is no consent event or webhook for it.
 */
export async function addDomainSuppression(
  database: Database,
  entry: { domain: string; reason: SuppressionReason; list?: string; source: string },
  now = Date.now(),
): Promise<{ item: SuppressionItem; created: boolean }> {
  const pattern = parseDomainPattern(entry.domain);
  return database.transaction(async (tx) => {
    const listId = entry.list ? (await findListBySlug(tx, entry.list)).id : null;
    const result = await suppressDomain(tx, { pattern, listId, reason: entry.reason, source: entry.source, at: now });
    return { item: (await suppressionItem(tx, result.id))!, created: result.created };
  });
}

/** Lifts an entry: the address may be mailed again. The lift and its reason go into the consent log. */
export async function liftSuppression(
  database: Database,
  lift: { id: number; reason: string | undefined; by: string },
  now = Date.now(),
): Promise<void> {
  await database.transaction(async (tx) => {
    const { suppressions } = tx.tables;
    // Locked on PostgreSQL: of two lifts of one entry at once, the second waits, finds it gone
    // and answers 404, so the log records one lift.
    const [entry] = await forUpdate(tx, tx.db.select().from(suppressions).where(eq(suppressions.id, lift.id)));
    if (!entry) throw new AppError(404, 'unknown_suppression', `There is no suppression entry ${lift.id}.`);
    await tx.db.delete(suppressions).where(eq(suppressions.id, entry.id));
    await recordConsent(tx, {
      contactId: await contactIdOf(tx, entry.email),
      listId: entry.listId,
      action: 'suppression_lifted',
      at: now,
      detail: `entry ${entry.id} (${entry.reason}) lifted by ${lift.by}: ${lift.reason?.trim() || 'no reason given'}`,
    });
  });
}
