import { statSync } from 'node:fs';
import path from 'node:path';
import SqliteConnection from 'better-sqlite3';
import { desc, eq, sql } from 'drizzle-orm';
import type { PgDb } from '../src/platform/db/postgres.js';
import { openDatabaseFromConfig, openSqliteDatabase, type Database } from '../src/platform/db/database.js';
import { createScratchDatabase, type ScratchDatabase } from '../test/support/postgres.js';
import { mayMail } from '../src/features/policy/service.js';
import { createSignupBatcher } from '../src/features/signup/batch.js';
import { requestSubscription } from '../src/features/signup/service.js';
import { addressHashes, findSuppression } from '../src/features/policy/suppressions.js';
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
  signupInsert: {
    signups: number;
    perSecond: number;
    batchedPerSecond: number;
    fileBytes: number;
    bytesPerContact: number;
    mbPerMillionContacts: number;
  };
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

/**
 * Where the database benches open their databases: a SQLite file in the bench's folder, or a
 * scratch database on the local PostgreSQL (dropped by dropAll). `closeAndMeasure` closes a
 * database and says how many bytes it takes on disk.
 */
export interface BenchEngine {
  readonly name: 'sqlite' | 'postgres';
  open(name: string): Promise<Database>;
  closeAndMeasure(database: Database): Promise<number>;
  /** Writes rows straight to the suppressions table, the fastest way the engine offers: the fill is setup, not a measure. */
  fillSuppressions(database: Database, rows: readonly SuppressionFill[]): Promise<void>;
  dropAll(): Promise<void>;
}

export interface SuppressionFill {
  emailHash: string;
  email: string;
  domain: string;
  listId: number | null;
  reason: string;
  source: string;
  createdAt: number;
}

export function sqliteEngine(dir: string): BenchEngine {
  const files = new Map<Database, string>();
  return {
    name: 'sqlite',
    async open(name) {
      const file = path.join(dir, `${name}.db`);
      const database = openSqliteDatabase(file);
      files.set(database, file);
      return database;
    },
    async fillSuppressions(database, rows) {
      // A connection of its own beside the idle writer: one prepared insert in one transaction.
      const connection = new SqliteConnection(files.get(database)!);
      try {
        const insert = connection.prepare(
          'insert into suppressions (email_hash, email, domain, list_id, reason, source, created_at) values (?, ?, ?, ?, ?, ?, ?)',
        );
        connection.transaction(() => {
          for (const r of rows) insert.run(r.emailHash, r.email, r.domain, r.listId, r.reason, r.source, r.createdAt);
        })();
      } finally {
        connection.close();
      }
    },
    async closeAndMeasure(database) {
      // The last connection to close checkpoints the WAL into the file and removes it.
      await database.close();
      return statSync(files.get(database)!).size;
    },
    async dropAll() {},
  };
}

export function postgresEngine(): BenchEngine {
  const scratches: ScratchDatabase[] = [];
  // What an empty migrated database already takes (the catalog): not counted in the signups' size.
  const emptyBytes = new Map<Database, number>();
  const sizeOf = async (database: Database) =>
    Number(((await database.db.execute(sql`select pg_database_size(current_database()) as bytes`)).rows[0] as { bytes: string }).bytes);
  return {
    name: 'postgres',
    async open(name) {
      const scratch = await createScratchDatabase(`optin_bench_${name}`);
      scratches.push(scratch);
      const database = await openDatabaseFromConfig({
        databasePath: '',
        databaseUrl: scratch.url,
        databasePoolMax: 10,
        databaseStatementTimeoutMs: 30_000,
        migrateOnStart: true,
      });
      emptyBytes.set(database, await sizeOf(database));
      return database;
    },
    async closeAndMeasure(database) {
      const bytes = (await sizeOf(database)) - emptyBytes.get(database)!;
      await database.close();
      return bytes;
    },
    async fillSuppressions(database, rows) {
      // One statement per 10,000 rows, each column as one array parameter (node-postgres sends JS arrays as PostgreSQL arrays).
      const pool = (database.db as unknown as PgDb).$client;
      for (let from = 0; from < rows.length; from += 10_000) {
        const chunk = rows.slice(from, from + 10_000);
        await pool.query(
          `insert into suppressions (email_hash, email, domain, list_id, reason, source, created_at)
           select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[])`,
          [
            chunk.map((r) => r.emailHash),
            chunk.map((r) => r.email),
            chunk.map((r) => r.domain),
            chunk.map((r) => r.listId),
            chunk.map((r) => r.reason),
            chunk.map((r) => r.source),
            chunk.map((r) => r.createdAt),
          ],
        );
      }
      // A running PostgreSQL has statistics (autovacuum analyzes a table that grew); SQLite's planner needs none here.
      await pool.query('analyze suppressions');
    },
    async dropAll() {
      for (const scratch of scratches.splice(0)) await scratch.drop();
    },
  };
}

/** Runs fn `runs` times, one after the other, and returns per-call times in the given unit (1e3 → µs, 1 → ms). */
async function timeEach(
  runs: number,
  unit: number,
  fn: (i: number) => Promise<unknown>,
): Promise<{ mean: number; p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn(i);
    times.push((performance.now() - start) * unit);
  }
  return { mean: round(mean(times), 2), p50: round(percentile(times, 50), 2), p99: round(percentile(times, 99), 2) };
}

/**
 * Signups straight through requestSubscription, one transaction each, one after the other (the
 * transaction POST /subscribe ran before the group commit). Stops after `signups`, or after
 * `maxSeconds` when given (a PostgreSQL commit waits for the WAL flush: 100,000 would take minutes).
 */
export async function benchSignupInserts(
  engine: BenchEngine,
  signups: number,
  maxSeconds = Infinity,
): Promise<DatabaseResults['signupInsert']> {
  const database = await engine.open('signups');
  const start = performance.now();
  let done = 0;
  while (done < signups && performance.now() - start < maxSeconds * 1000) {
    const email = `person${done}@d${done % 1000}.example`;
    await database.transaction((tx) => requestSubscription(tx, SECRETS, signupOf(email)));
    done++;
  }
  const seconds = (performance.now() - start) / 1000;
  const fileBytes = await engine.closeAndMeasure(database);
  return {
    signups: done,
    perSecond: Math.round(done / seconds),
    batchedPerSecond: 0,
    fileBytes,
    bytesPerContact: Math.round(fileBytes / done),
    mbPerMillionContacts: round(((fileBytes / done) * 1e6) / 1e6, 0),
  };
}

/** The same signups through the group commit, 32 submitted per event-loop turn like 32 busy connections. */
export async function benchBatchedSignups(engine: BenchEngine, signups: number, maxSeconds = Infinity): Promise<number> {
  const database = await engine.open('batched');
  const batcher = createSignupBatcher(database, SECRETS);
  const start = performance.now();
  let done = 0;
  while (done < signups && performance.now() - start < maxSeconds * 1000) {
    const first = done;
    await Promise.all(Array.from({ length: 32 }, (_, j) => batcher.submit(signupOf(`batched${first + j}@d${(first + j) % 1000}.example`))));
    done += 32;
  }
  const perSecond = Math.round(done / ((performance.now() - start) / 1000));
  await database.close();
  return perSecond;
}

/**
 * A million suppression entries (a tenth of them for one list), then lookups by address and the
 * admin list page: the 50 newest entries, the same filtered by domain, and the next page by keyset.
 */
export async function benchSuppressions(engine: BenchEngine, entries: number): Promise<DatabaseResults['suppression']> {
  const database = await engine.open('suppressions');
  const { suppressions } = database.tables;
  const base = Date.now() - entries * 1000;
  const bulkStart = performance.now();
  const rows: SuppressionFill[] = [];
  for (let i = 0; i < entries; i++) {
    const domain = `d${i % 1000}.example`;
    const emailKey = `gone${i}@${domain}`;
    rows.push({
      emailHash: addressHashes(SECRETS, emailKey)[0]!,
      email: emailKey,
      domain,
      listId: i % 10 === 0 ? 1 : null,
      reason: 'unsubscribed',
      source: 'bench',
      createdAt: base + i * 1000,
    });
  }
  await engine.fillSuppressions(database, rows);
  const bulkInsertSeconds = round((performance.now() - bulkStart) / 1000);

  const lookups = 20_000;
  // Alternate entries that exist with addresses that are not suppressed: both paths matter.
  const keyFor = (i: number) =>
    i % 2 === 0 ? `gone${(i * 7919) % entries}@d${((i * 7919) % entries) % 1000}.example` : `fresh${i}@d${i % 1000}.example`;
  const now = Date.now();
  // Warm the page cache as a running service would have it.
  for (let i = 0; i < 2000; i++) await findSuppression(database, SECRETS, keyFor(i), 1);
  const findSuppressionUs = await timeEach(lookups, 1e3, (i) => findSuppression(database, SECRETS, keyFor(i), 1));
  const mayMailUs = await timeEach(lookups, 1e3, (i) =>
    mayMail(database, SECRETS, {
      emailKey: keyFor(i),
      listId: 1,
      kind: 'confirmation',
      subscriptionStatus: 'pending',
      confirmExpiresAt: now + 60_000,
      now,
    }),
  );

  const columns = {
    id: suppressions.id,
    email: suppressions.email,
    domain: suppressions.domain,
    listId: suppressions.listId,
    reason: suppressions.reason,
    source: suppressions.source,
    createdAt: suppressions.createdAt,
  };
  const newestFirst = [desc(suppressions.createdAt), desc(suppressions.id)];
  const newest = () =>
    database.db
      .select(columns)
      .from(suppressions)
      .orderBy(...newestFirst)
      .limit(50);
  const adminPageMs = await timeEach(300, 1, () => newest());
  const adminPageByDomainMs = await timeEach(300, 1, (i) =>
    database.db
      .select(columns)
      .from(suppressions)
      .where(eq(suppressions.domain, `d${i % 1000}.example`))
      .orderBy(...newestFirst)
      .limit(50),
  );
  const firstPage = await newest();
  const last = firstPage[firstPage.length - 1]!;
  const adminNextPageMs = await timeEach(300, 1, () =>
    database.db
      .select(columns)
      .from(suppressions)
      .where(sql`(${suppressions.createdAt}, ${suppressions.id}) < (${last.createdAt}, ${last.id})`)
      .orderBy(...newestFirst)
      .limit(50),
  );

  const fileBytes = await engine.closeAndMeasure(database);
  return { entries, bulkInsertSeconds, findSuppressionUs, mayMailUs, adminPageMs, adminPageByDomainMs, adminNextPageMs, fileBytes };
}
