import { createHmac } from 'node:crypto';
import { and, eq, inArray, isNotNull, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { preparedPerHandle } from '../db/prepared.js';
import { suppressions, type SuppressionReason } from '../db/schema.js';

/**
 * Keyed hashes (HMAC with each configured secret) of a canonical address. Suppression entries
 * are found by them, so an entry keeps blocking an address after the address has been erased,
 * and entries written under a retired key still match while that key stays configured.
 */
export function addressHashes(secrets: readonly string[], emailKey: string): string[] {
  return secrets.map((secret) => createHmac('sha256', secret).update(`address:${emailKey}`).digest('base64url'));
}

/**
 * An address's entries as one condition per partial unique index (all lists, one list): a
 * lookup by hash alone matches neither index's condition, and SQLite would scan the table.
 */
export function addressEntryConditions(secrets: readonly string[], emailKey: string): [SQL, SQL] {
  const hashes = inArray(suppressions.emailHash, addressHashes(secrets, emailKey));
  return [and(hashes, isNull(suppressions.listId))!, and(hashes, isNotNull(suppressions.listId))!];
}

/** Every entry of an address, in any scope, found through both partial unique indexes. */
export function entriesOfAddress(secrets: readonly string[], emailKey: string): SQL {
  return or(...addressEntryConditions(secrets, emailKey))!;
}

export interface SuppressionMatch {
  id: number;
  reason: SuppressionReason;
}

/** One prepared lookup per number of secrets and per scope (one list or every list only). */
function suppressionLookup(db: Pick<Db, 'select'>, secretCount: number, anyList: boolean) {
  const hashes = Array.from({ length: secretCount }, (_, i) => sql.placeholder(`hash${i}`));
  const scope = anyList ? isNull(suppressions.listId) : or(isNull(suppressions.listId), eq(suppressions.listId, sql.placeholder('listId')));
  return db
    .select({ id: suppressions.id, reason: suppressions.reason })
    .from(suppressions)
    .where(and(inArray(suppressions.emailHash, hashes), scope))
    .limit(1)
    .prepare();
}

const suppressionLookups = preparedPerHandle((_db: Pick<Db, 'select'>) => new Map<string, ReturnType<typeof suppressionLookup>>());

/** The entry that blocks this address for this list (or for every list), if any. */
export function findSuppression(
  db: Pick<Db, 'select'>,
  secrets: readonly string[],
  emailKey: string,
  listId: number | null,
): SuppressionMatch | undefined {
  const lookups = suppressionLookups(db);
  const shape = `${secrets.length}:${listId === null}`;
  let lookup = lookups.get(shape);
  if (!lookup) {
    lookup = suppressionLookup(db, secrets.length, listId === null);
    lookups.set(shape, lookup);
  }
  const values: Record<string, string | number> = { listId: listId ?? 0 };
  addressHashes(secrets, emailKey).forEach((hash, i) => (values[`hash${i}`] = hash));
  return lookup.get(values);
}

export interface NewSuppression {
  emailKey: string;
  domain: string;
  /** null: every list. */
  listId: number | null;
  reason: SuppressionReason;
  source: string;
  at: number;
  /** The subscription whose unsubscribe link makes this opt-out (only that link may undo it). */
  createdByLink?: number;
}

/**
 * Puts an address on the suppression list for one list or all. Idempotent: an address already
 * suppressed in exactly that scope keeps its first entry, which then no longer belongs to the
 * unsubscribe link that made it (if another source lands on it), so no link's undo lifts an
 * opt-out made again since. Returns the entry id and whether it is new.
 */
export function suppressAddress(
  db: Pick<Db, 'select' | 'insert' | 'update'>,
  secrets: readonly string[],
  entry: NewSuppression,
): { id: number; created: boolean } {
  return suppressAddresses(db, secrets, [entry])[0]!;
}

/** Rows per statement: well under SQLite's limit on bound variables. */
const CHUNK = 500;

function chunked<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) chunks.push(items.slice(i, i + CHUNK));
  return chunks;
}

/**
 * suppressAddress for many addresses at once (an import): one lookup per scope and chunk, and
 * multi-row inserts, instead of two statements per address. An address given twice in the same
 * scope gets one entry; the repeat answers `created: false`.
 */
export function suppressAddresses(
  db: Pick<Db, 'select' | 'insert' | 'update'>,
  secrets: readonly string[],
  entries: readonly NewSuppression[],
): { id: number; created: boolean }[] {
  const hashed = entries.map((entry) => ({ entry, hashes: addressHashes(secrets, entry.emailKey) }));
  const keyOf = (hash: string, listId: number | null) => `${listId ?? '*'}|${hash}`;
  const known = new Map<string, number>();
  const linkOfKnown = new Map<number, number | null>();
  for (const listId of new Set(entries.map((e) => e.listId))) {
    // One scope at a time, so each lookup is served by its partial unique index.
    const scope = listId === null ? isNull(suppressions.listId) : eq(suppressions.listId, listId);
    const hashes = [...new Set(hashed.filter((h) => h.entry.listId === listId).flatMap((h) => h.hashes))];
    for (const chunk of chunked(hashes)) {
      const rows = db
        .select({ id: suppressions.id, emailHash: suppressions.emailHash, createdByLink: suppressions.createdByLink })
        .from(suppressions)
        .where(and(inArray(suppressions.emailHash, chunk), scope))
        .all();
      for (const row of rows) {
        known.set(keyOf(row.emailHash, listId), row.id);
        linkOfKnown.set(row.id, row.createdByLink);
      }
    }
  }

  const existing = hashed.map(({ entry, hashes }) => hashes.map((hash) => known.get(keyOf(hash, entry.listId))).find((id) => id !== undefined));
  // An entry one link made, hit by another opt-out: it now stands for both, so that link alone may not lift it.
  const shared = [
    ...new Set(
      existing.filter((id, i): id is number => {
        if (id === undefined) return false;
        const link = linkOfKnown.get(id) ?? null;
        return link !== null && link !== (entries[i]!.createdByLink ?? null);
      }),
    ),
  ];
  for (const chunk of chunked(shared)) db.update(suppressions).set({ createdByLink: null }).where(inArray(suppressions.id, chunk)).run();
  const fresh = new Map<string, NewSuppression & { emailHash: string }>();
  hashed.forEach(({ entry, hashes }, i) => {
    const key = keyOf(hashes[0]!, entry.listId);
    if (existing[i] === undefined && !fresh.has(key)) fresh.set(key, { ...entry, emailHash: hashes[0]! });
  });
  for (const chunk of chunked([...fresh.values()])) {
    const inserted = db
      .insert(suppressions)
      .values(
        chunk.map((e) => ({ emailHash: e.emailHash, email: e.emailKey, domain: e.domain, listId: e.listId, reason: e.reason, source: e.source, createdAt: e.at, createdByLink: e.createdByLink ?? null })),
      )
      .returning({ id: suppressions.id, emailHash: suppressions.emailHash, listId: suppressions.listId })
      .all();
    for (const row of inserted) known.set(keyOf(row.emailHash, row.listId), row.id);
  }

  const claimed = new Set<string>();
  return hashed.map(({ entry, hashes }, i) => {
    if (existing[i] !== undefined) return { id: existing[i], created: false };
    const key = keyOf(hashes[0]!, entry.listId);
    const created = !claimed.has(key);
    claimed.add(key);
    return { id: known.get(key)!, created };
  });
}
