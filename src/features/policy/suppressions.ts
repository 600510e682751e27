import { createHmac } from 'node:crypto';
import { and, asc, eq, inArray, isNotNull, isNull, or, sql, type SQL } from 'drizzle-orm';
import { forUpdate, type Scope, type Tables } from '../../platform/db/database.js';
import { preparedPerHandle } from '../../platform/db/prepared.js';
import type { SuppressionReason } from '../../platform/db/schema.js';

/**
 * Keyed hashes (HMAC with each configured secret) of a canonical address. Suppression entries
 * are found by them, so an entry keeps blocking an address after the address has been erased,
 * and entries written under a retired key still match while that key stays configured.
 */
export function addressHashes(secrets: readonly string[], emailKey: string): string[] {
  return secrets.map((secret) => createHmac('sha256', secret).update(`address:${emailKey}`).digest('base64url'));
}

/**
 * A domain block's key, kept in `email_hash` beside the keyed hashes (a domain is no one's
 * personal data, so it is not hashed): `domain:spam.example` blocks every address at that
 * domain, `domain:*.spam.example` the domain and all its subdomains. No keyed hash has a colon.
 */
export const DOMAIN_KEY_PREFIX = 'domain:';

export const isDomainKey = (emailHash: string) => emailHash.startsWith(DOMAIN_KEY_PREFIX);

/** The domain blocks that would cover an address: its domain exactly, and the wildcard of it and of each parent. */
export function domainKeys(emailKey: string): string[] {
  const domain = emailKey.slice(emailKey.lastIndexOf('@') + 1);
  const labels = domain.split('.');
  const keys = [`${DOMAIN_KEY_PREFIX}${domain}`];
  for (let i = 0; i < labels.length - 1; i += 1) keys.push(`${DOMAIN_KEY_PREFIX}*.${labels.slice(i).join('.')}`);
  return keys;
}

/** What blocks an address: its keyed hashes, and the domain blocks over its domain. */
export function blockingKeys(secrets: readonly string[], emailKey: string): string[] {
  return [...addressHashes(secrets, emailKey), ...domainKeys(emailKey)];
}

/** Every entry that blocks an address (its own in any scope, and the domain blocks over it): what the gate reads. */
export function blockingEntriesOf({ suppressions }: Pick<Tables, 'suppressions'>, secrets: readonly string[], emailKey: string): SQL {
  const keys = inArray(suppressions.emailHash, blockingKeys(secrets, emailKey));
  return or(and(keys, isNull(suppressions.listId)), and(keys, isNotNull(suppressions.listId)))!;
}

/**
 * An address's entries as one condition per partial unique index (all lists, one list): a
 * lookup by hash alone matches neither index's condition, and SQLite would scan the table.
 */
export function addressEntryConditions(
  { suppressions }: Pick<Tables, 'suppressions'>,
  secrets: readonly string[],
  emailKey: string,
): [SQL, SQL] {
  const hashes = inArray(suppressions.emailHash, addressHashes(secrets, emailKey));
  return [and(hashes, isNull(suppressions.listId))!, and(hashes, isNotNull(suppressions.listId))!];
}

/** Every entry of an address, in any scope, found through both partial unique indexes. */
export function entriesOfAddress(tables: Pick<Tables, 'suppressions'>, secrets: readonly string[], emailKey: string): SQL {
  return or(...addressEntryConditions(tables, secrets, emailKey))!;
}

export interface SuppressionMatch {
  id: number;
  reason: SuppressionReason;
}

/**
 * One prepared lookup per number of secrets and per scope (one list or every list only); each
 * shape has its own PostgreSQL statement name.
 */
function suppressionLookup(scope: Scope, keyCount: number, anyList: boolean) {
  const { suppressions } = scope.tables;
  const hashes = Array.from({ length: keyCount }, (_, i) => sql.placeholder(`hash${i}`));
  const listScope = anyList
    ? isNull(suppressions.listId)
    : or(isNull(suppressions.listId), eq(suppressions.listId, sql.placeholder('listId')));
  return (
    scope.db
      .select({ id: suppressions.id, reason: suppressions.reason })
      .from(suppressions)
      .where(and(inArray(suppressions.emailHash, hashes), listScope))
      // Any entry blocks; of several, one that is not the person's own opt-out says more (as in findSuppressions).
      .orderBy(sql`case when ${suppressions.reason} = 'unsubscribed' then 1 else 0 end`, asc(suppressions.id))
      .limit(1)
      .prepare(`suppression_lookup_${keyCount}_${anyList ? 'all_lists' : 'list'}`)
  );
}

const suppressionLookups = preparedPerHandle((_scope: Scope) => new Map<string, ReturnType<typeof suppressionLookup>>());

/** An entry that blocks this address for this list (or for every list), if any: the most telling of several. */
export async function findSuppression(
  scope: Scope,
  secrets: readonly string[],
  emailKey: string,
  listId: number | null,
): Promise<SuppressionMatch | undefined> {
  const lookups = suppressionLookups(scope);
  const keys = blockingKeys(secrets, emailKey);
  const shape = `${keys.length}:${listId === null}`;
  let lookup = lookups.get(shape);
  if (!lookup) {
    lookup = suppressionLookup(scope, keys.length, listId === null);
    lookups.set(shape, lookup);
  }
  const values: Record<string, string | number> = { listId: listId ?? 0 };
  keys.forEach((key, i) => (values[`hash${i}`] = key));
  return (await lookup.execute(values))[0];
}

/**
 * The entries that block each of these addresses for this list (or every list), in one query
 * per chunk of addresses instead of one per address (a page of subscribers, a `mailable` batch).
 * When an address has several entries, one that is not the person's own opt-out wins: it says
 * more (a bounce, a complaint, a block, an erasure). Keyed by the canonical address.
 */
export async function findSuppressions(
  scope: Scope,
  secrets: readonly string[],
  emailKeys: readonly string[],
  listId: number,
): Promise<Map<string, SuppressionMatch>> {
  const { suppressions } = scope.tables;
  const found = new Map<string, SuppressionMatch>();
  for (const chunk of chunked([...new Set(emailKeys)])) {
    // A domain block's key stands for every address of the chunk at that domain.
    const keyOfHash = new Map<string, string[]>();
    for (const emailKey of chunk)
      for (const key of blockingKeys(secrets, emailKey)) keyOfHash.set(key, [...(keyOfHash.get(key) ?? []), emailKey]);
    const hashes = inArray(suppressions.emailHash, [...keyOfHash.keys()]);
    // One condition per partial unique index, so each half is an index lookup (see addressEntryConditions).
    const rows = await scope.db
      .select({ id: suppressions.id, reason: suppressions.reason, emailHash: suppressions.emailHash })
      .from(suppressions)
      .where(or(and(hashes, isNull(suppressions.listId)), and(hashes, eq(suppressions.listId, listId))));
    for (const row of rows) {
      for (const emailKey of keyOfHash.get(row.emailHash)!) {
        const known = found.get(emailKey);
        if (!known || (known.reason === 'unsubscribed' && row.reason !== 'unsubscribed'))
          found.set(emailKey, { id: row.id, reason: row.reason });
      }
    }
  }
  return found;
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
 * Puts an address on the suppression list for one list or all, for one reason. Each reason is a
 * fact of its own: an admin block, a complaint or a bounce landing on an address the person had
 * unsubscribed is a new entry beside theirs, so undoing their opt-out (the preference centre,
 * resubscribe) never lifts it. Idempotent per address, scope and reason: one already there is
 * kept, and then no longer belongs to the unsubscribe link that made it (if another opt-out lands
 * on it), so no link's undo lifts an opt-out made again since. Returns the entry id and whether
 * it is new. Runs in the caller's transaction.
 */
export async function suppressAddress(
  tx: Scope,
  secrets: readonly string[],
  entry: NewSuppression,
): Promise<{ id: number; created: boolean }> {
  return (await suppressAddresses(tx, secrets, [entry]))[0]!;
}

/** Rows per statement: well under either engine's limit on bound parameters. */
const CHUNK = 500;

function chunked<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) chunks.push(items.slice(i, i + CHUNK));
  return chunks;
}

/** Inserts that lost a race to a row deleted again before it could be read back: tried again this often. */
const INSERT_ATTEMPTS = 3;

/**
 * suppressAddress for many addresses at once (an import): one lookup per scope, reason and chunk,
 * and multi-row inserts, instead of two statements per address. An address given twice in the
 * same scope for the same reason gets one entry; the repeat answers `created: false`. Runs in the
 * caller's transaction.
 *
 * Many processes: the look-up and the insert are not one step on PostgreSQL, so
 * - the entries found are locked (`forUpdate`): an unsubscribe link's undo (which deletes the
 *   entries its link created) waits for this transaction, then no longer finds an entry this one
 *   took from that link, or this one waits for the undo and no longer finds the deleted entry,
 *   and inserts it again. Either way the opt-out made here stands.
 * - the insert is `ON CONFLICT DO NOTHING` (any unique index, so both partial ones): an entry
 *   another transaction inserted after the look-up makes the row go unwritten instead of failing
 *   the transaction; it is then read back (and locked) like one found by the look-up, and
 *   answers `created: false`, as it would have under SQLite's single writer.
 */
export async function suppressAddresses(
  tx: Scope,
  secrets: readonly string[],
  entries: readonly NewSuppression[],
): Promise<{ id: number; created: boolean }[]> {
  const { suppressions } = tx.tables;
  const hashed = entries.map((entry) => ({ entry, hashes: addressHashes(secrets, entry.emailKey) }));
  const keyOf = (hash: string, listId: number | null, reason: SuppressionReason) => `${listId ?? '*'}|${reason}|${hash}`;
  const known = new Map<string, number>();
  const linkOfKnown = new Map<number, number | null>();

  /**
   * Finds (and locks) the entries of these addresses, one scope and reason at a time, so each
   * lookup is served by its partial unique index and locks only the entries it may land on.
   */
  const lookUp = async (wanted: readonly { entry: NewSuppression; hashes: string[] }[]) => {
    const groups = new Map<string, { listId: number | null; reason: SuppressionReason; hashes: Set<string> }>();
    for (const { entry, hashes } of wanted) {
      const group = `${entry.listId ?? '*'}|${entry.reason}`;
      if (!groups.has(group)) groups.set(group, { listId: entry.listId, reason: entry.reason, hashes: new Set() });
      for (const hash of hashes) groups.get(group)!.hashes.add(hash);
    }
    for (const { listId, reason, hashes } of groups.values()) {
      const scope = listId === null ? isNull(suppressions.listId) : eq(suppressions.listId, listId);
      for (const chunk of chunked([...hashes])) {
        const rows = await forUpdate(
          tx,
          tx.db
            .select({ id: suppressions.id, emailHash: suppressions.emailHash, createdByLink: suppressions.createdByLink })
            .from(suppressions)
            .where(and(inArray(suppressions.emailHash, chunk), scope, eq(suppressions.reason, reason)))
            // Rows are locked in id order, so two imports locking some of the same entries cannot deadlock on them.
            .orderBy(asc(suppressions.id)),
        );
        for (const row of rows) {
          known.set(keyOf(row.emailHash, listId, reason), row.id);
          linkOfKnown.set(row.id, row.createdByLink);
        }
      }
    }
  };
  const existingOf = ({ entry, hashes }: { entry: NewSuppression; hashes: string[] }) =>
    hashes.map((hash) => known.get(keyOf(hash, entry.listId, entry.reason))).find((id) => id !== undefined);

  await lookUp(hashed);
  const existing = hashed.map(existingOf);
  const createdHere = new Set<number>();
  for (let attempt = 1; ; attempt += 1) {
    const fresh = new Map<string, NewSuppression & { emailHash: string }>();
    hashed.forEach(({ entry, hashes }, i) => {
      const key = keyOf(hashes[0]!, entry.listId, entry.reason);
      if (existing[i] === undefined && !known.has(key) && !fresh.has(key)) fresh.set(key, { ...entry, emailHash: hashes[0]! });
    });
    if (fresh.size === 0) break;
    if (attempt > INSERT_ATTEMPTS) throw new Error('suppression entries kept vanishing while being written; nothing was saved');
    for (const chunk of chunked([...fresh.values()])) {
      const inserted = await tx.db
        .insert(suppressions)
        .values(
          chunk.map((e) => ({
            emailHash: e.emailHash,
            email: e.emailKey,
            domain: e.domain,
            listId: e.listId,
            reason: e.reason,
            source: e.source,
            createdAt: e.at,
            createdByLink: e.createdByLink ?? null,
          })),
        )
        .onConflictDoNothing()
        .returning({ id: suppressions.id, emailHash: suppressions.emailHash, listId: suppressions.listId, reason: suppressions.reason });
      for (const row of inserted) {
        known.set(keyOf(row.emailHash, row.listId, row.reason), row.id);
        createdHere.add(row.id);
      }
    }
    // Rows another transaction wrote first: read them back as if the look-up had found them.
    const raced = hashed.filter((h, i) => existing[i] === undefined && !known.has(keyOf(h.hashes[0]!, h.entry.listId, h.entry.reason)));
    if (raced.length === 0) break;
    await lookUp(raced);
    hashed.forEach((h, i) => {
      if (existing[i] !== undefined) return;
      const id = existingOf(h);
      if (id !== undefined && !createdHere.has(id)) existing[i] = id;
    });
  }

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
  for (const chunk of chunked(shared)) await tx.db.update(suppressions).set({ createdByLink: null }).where(inArray(suppressions.id, chunk));

  const claimed = new Set<string>();
  return hashed.map(({ entry, hashes }, i) => {
    if (existing[i] !== undefined) return { id: existing[i], created: false };
    const key = keyOf(hashes[0]!, entry.listId, entry.reason);
    const created = !claimed.has(key);
    claimed.add(key);
    return { id: known.get(key)!, created };
  });
}

/**
 * Blocks a whole domain (`spam.example`, or `*.spam.example` with its subdomains) for one list
 * or all, in the caller's transaction. Idempotent for the same pattern, scope and reason. The
 * pattern is checked by the caller (suppression feature); it is kept in `email_hash` as
 * `domain:<pattern>`, and the bare domain in `domain` for search.
 */
export async function suppressDomain(
  tx: Scope,
  entry: { pattern: string; listId: number | null; reason: SuppressionReason; source: string; at: number },
): Promise<{ id: number; created: boolean }> {
  const { suppressions } = tx.tables;
  const key = `${DOMAIN_KEY_PREFIX}${entry.pattern}`;
  const [inserted] = await tx.db
    .insert(suppressions)
    .values({
      emailHash: key,
      email: null,
      domain: entry.pattern.replace(/^\*\./, ''),
      listId: entry.listId,
      reason: entry.reason,
      source: entry.source,
      createdAt: entry.at,
    })
    .onConflictDoNothing()
    .returning({ id: suppressions.id });
  if (inserted) return { id: inserted.id, created: true };
  const [existing] = await tx.db
    .select({ id: suppressions.id })
    .from(suppressions)
    .where(
      and(
        eq(suppressions.emailHash, key),
        eq(suppressions.reason, entry.reason),
        entry.listId === null ? isNull(suppressions.listId) : eq(suppressions.listId, entry.listId),
      ),
    );
  return { id: existing!.id, created: false };
}
