import { createHmac } from 'node:crypto';
import { and, eq, inArray, isNotNull, isNull, or, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
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
 * Every entry of an address, in any scope. Written as one condition per partial unique index
 * (all lists / one list), so SQLite searches both indexes instead of scanning the table.
 */
export function entriesOfAddress(secrets: readonly string[], emailKey: string): SQL {
  const hashes = inArray(suppressions.emailHash, addressHashes(secrets, emailKey));
  return or(and(hashes, isNull(suppressions.listId)), and(hashes, isNotNull(suppressions.listId)))!;
}

export interface SuppressionMatch {
  id: number;
  reason: SuppressionReason;
}

/** The entry that blocks this address for this list (or for every list), if any. */
export function findSuppression(
  db: Pick<Db, 'select'>,
  secrets: readonly string[],
  emailKey: string,
  listId: number | null,
): SuppressionMatch | undefined {
  const scope = listId === null ? isNull(suppressions.listId) : or(isNull(suppressions.listId), eq(suppressions.listId, listId));
  return db
    .select({ id: suppressions.id, reason: suppressions.reason })
    .from(suppressions)
    .where(and(inArray(suppressions.emailHash, addressHashes(secrets, emailKey)), scope))
    .limit(1)
    .get();
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
