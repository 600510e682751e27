import { statSync } from 'node:fs';
import path from 'node:path';
import { openDatabase, closeDatabase, type Db } from '../src/db/client.js';
import { mayMail } from '../src/subscriptions/mailPolicy.js';
import { createSignupBatcher } from '../src/subscriptions/signupBatch.js';
import { requestSubscription } from '../src/subscriptions/subscribe.js';
import { addressHashes, findSuppression } from '../src/subscriptions/suppression.js';
import { mean, percentile, round } from './stats.js';

const SECRETS = ['bench-secret-0123456789abcdef'];
const ORIGIN = { ip: '127.0.0.1', userAgent: 'optin-bench', source: null };
/** A new address's signup; the per-address limits (CONFIRM_COOLDOWN, CONFIRM_MAX) at their defaults. */
const signupOf = (email: string) => ({
  email,
  listSlug: 'default',
  locale: 'en' as const,
  name: null,
  origin: ORIGIN,
  confirmLimits: { cooldownMs: 15 * 60_000, max: 3 },
});

export interface DatabaseResults {
  signupInsert: { signups: number; perSecond: number; batchedPerSecond: number; fileBytes: number; bytesPerContact: number; mbPerMillionContacts: number };
  suppression: {
    entries: number;
    bulkInsertSeconds: number;
    findSuppressionUs: { mean: number; p50: number; p99: number };
    mayMailUs: { mean: number; p50: number; p99: number };
    adminPageMs: { mean: number; p50: number; p99: number };
    adminPageByDomainMs: { mean: number; p50: number; p99: number };
    adminNextPageMs: { mean: number; p50: number; p99: number };
    fileBytes: number;
  };
}

function fileSize(db: Db, file: string): number {
  db.$client.pragma('wal_checkpoint(TRUNCATE)');
  return statSync(file).size;
}

/** Runs fn `runs` times and returns per-call times in the given unit (1e3 → µs, 1 → ms). */
function timeEach(runs: number, unit: number, fn: (i: number) => unknown): { mean: number; p50: number; p99: number } {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn(i);
    times.push((performance.now() - start) * unit);
  }
  return { mean: round(mean(times), 2), p50: round(percentile(times, 50), 2), p99: round(percentile(times, 99), 2) };
}

/** Signups straight through requestSubscription (the same transaction POST /subscribe runs). */
export function benchSignupInserts(dir: string, signups: number): DatabaseResults['signupInsert'] {
  const file = path.join(dir, 'signups.db');
  const db = openDatabase(file);
  const start = performance.now();
  for (let i = 0; i < signups; i++) {
    requestSubscription(db, SECRETS, signupOf(`person${i}@d${i % 1000}.example`));
  }
  const seconds = (performance.now() - start) / 1000;
  const fileBytes = fileSize(db, file);
  closeDatabase(db);
  return {
    signups,
    perSecond: Math.round(signups / seconds),
    batchedPerSecond: 0,
    fileBytes,
    bytesPerContact: Math.round(fileBytes / signups),
    mbPerMillionContacts: round((fileBytes / signups) * 1e6 / 1e6, 0),
  };
}

/** The same signups through the group commit, 32 submitted per event-loop turn like 32 busy connections. */
export async function benchBatchedSignups(dir: string, signups: number): Promise<number> {
  const db = openDatabase(path.join(dir, 'batched.db'));
  const batcher = createSignupBatcher(db, SECRETS);
  const start = performance.now();
  for (let i = 0; i < signups; i += 32) {
    await Promise.all(
      Array.from({ length: 32 }, (_, j) => batcher.submit(signupOf(`batched${i + j}@d${(i + j) % 1000}.example`))),
    );
  }
  const perSecond = Math.round(signups / ((performance.now() - start) / 1000));
  closeDatabase(db);
  return perSecond;
}

/**
 * A million suppression entries (a tenth of them for one list), then lookups by address and the
 * admin list page: the 50 newest entries, the same filtered by domain, and the next page by keyset.
 */
export function benchSuppressions(dir: string, entries: number): DatabaseResults['suppression'] {
  const file = path.join(dir, 'suppressions.db');
  const db = openDatabase(file);
  const sqlite = db.$client;
  const insert = sqlite.prepare(
    `insert into suppressions (email_hash, email, domain, list_id, reason, source, created_at) values (?, ?, ?, ?, 'unsubscribed', 'bench', ?)`,
  );
  const base = Date.now() - entries * 1000;
  const bulkStart = performance.now();
  sqlite.transaction(() => {
    for (let i = 0; i < entries; i++) {
      const domain = `d${i % 1000}.example`;
      const emailKey = `gone${i}@${domain}`;
      insert.run(addressHashes(SECRETS, emailKey)[0], emailKey, domain, i % 10 === 0 ? 1 : null, base + i * 1000);
    }
  })();
  const bulkInsertSeconds = round((performance.now() - bulkStart) / 1000);
  sqlite.pragma('analyze');

  const lookups = 20_000;
  // Alternate entries that exist with addresses that are not suppressed: both paths matter.
  const keyFor = (i: number) => (i % 2 === 0 ? `gone${(i * 7919) % entries}@d${((i * 7919) % entries) % 1000}.example` : `fresh${i}@d${i % 1000}.example`);
  const now = Date.now();
  // Warm the page cache as a running service would have it.
  for (let i = 0; i < 2000; i++) findSuppression(db, SECRETS, keyFor(i), 1);
  const findSuppressionUs = timeEach(lookups, 1e3, (i) => findSuppression(db, SECRETS, keyFor(i), 1));
  const mayMailUs = timeEach(lookups, 1e3, (i) =>
    mayMail(db, SECRETS, { emailKey: keyFor(i), listId: 1, kind: 'confirmation', subscriptionStatus: 'pending', confirmExpiresAt: now + 60_000, now }),
  );

  const newest = sqlite.prepare(
    'select id, email, domain, list_id, reason, source, created_at from suppressions order by created_at desc, id desc limit 50',
  );
  const byDomain = sqlite.prepare(
    'select id, email, domain, list_id, reason, source, created_at from suppressions where domain = ? order by created_at desc, id desc limit 50',
  );
  const nextPage = sqlite.prepare(
    'select id, email, domain, list_id, reason, source, created_at from suppressions where (created_at, id) < (?, ?) order by created_at desc, id desc limit 50',
  );
  const adminPageMs = timeEach(300, 1, () => newest.all());
  const adminPageByDomainMs = timeEach(300, 1, (i) => byDomain.all(`d${i % 1000}.example`));
  const firstPage = newest.all() as { id: number; created_at: number }[];
  const last = firstPage[firstPage.length - 1]!;
  const adminNextPageMs = timeEach(300, 1, () => nextPage.all(last.created_at, last.id));

  const fileBytes = fileSize(db, file);
  closeDatabase(db);
  return { entries, bulkInsertSeconds, findSuppressionUs, mayMailUs, adminPageMs, adminPageByDomainMs, adminNextPageMs, fileBytes };
}
