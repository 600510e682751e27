import { createHmac } from 'node:crypto';
import { and, eq, inArray, isNull, or, sql } from 'drizzle-orm';
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

const suppressionLookups = preparedPerHandle((db: Pick<Db, 'select'>) => new Map<string, ReturnType<typeof suppressionLookup>>());

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
}

/**
 * Puts an address on the suppression list for one list or all. Idempotent: an address already
 * suppressed in exactly that scope keeps its first entry. Returns the entry id and whether it is new.
 */
export function suppressAddress(
  db: Pick<Db, 'select' | 'insert'>,
  secrets: readonly string[],
  entry: NewSuppression,
): { id: number; created: boolean } {
  const hashes = addressHashes(secrets, entry.emailKey);
  const scope = entry.listId === null ? isNull(suppressions.listId) : eq(suppressions.listId, entry.listId);
  const existing = db
    .select({ id: suppressions.id })
    .from(suppressions)
    .where(and(inArray(suppressions.emailHash, hashes), scope))
    .limit(1)
    .get();
  if (existing) return { id: existing.id, created: false };
  const inserted = db
    .insert(suppressions)
    .values({
      emailHash: hashes[0]!,
      email: entry.emailKey,
      domain: entry.domain,
      listId: entry.listId,
      reason: entry.reason,
      source: entry.source,
      createdAt: entry.at,
    })
    .returning({ id: suppressions.id })
    .get();
  return { id: inserted.id, created: true };
}
