import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteConnection from 'better-sqlite3';
import { openDatabaseFromConfig, openSqliteDatabase } from '../src/platform/db/database.js';
import type { PgDb } from '../src/platform/db/postgres.js';
import { dashboardStats } from '../src/features/dashboard/service.js';
import { percentile, round } from './stats.js';

/** Lists the contacts are spread over, and the share of each status (the rest unsubscribed). */
const LISTS = 10;
const CONFIRMED_SHARE = 0.7;
const PENDING_SHARE = 0.2;
const DAYS = 365;

const statusOf = (i: number) => {
  const share = (i % 100) / 100;
  return share < CONFIRMED_SHARE ? 'confirmed' : share < CONFIRMED_SHARE + PENDING_SHARE ? 'pending' : 'unsubscribed';
};

export interface DashboardSeed {
  contacts: number;
  seconds: number;
}

/**
 * `contacts` contacts, one subscription each over ten lists (70 % confirmed, 20 % pending, 10 %
 * unsubscribed), and a year of daily_list_stats rows per list, written straight to the tables
 * (setup, not a measure). SQLite: the file a service then opens. PostgreSQL: the scratch database.
 */
export async function seedDashboard(target: { sqliteFile: string } | { postgresUrl: string }, contacts: number): Promise<DashboardSeed> {
  const start = performance.now();
  const now = Date.now();
  const listRows = Array.from({ length: LISTS }, (_, i) => [i + 1, i === 0 ? 'default' : `list${i}`, `List ${i}`, now] as const);
  const dayRows = Array.from({ length: DAYS * LISTS }, (_, k) => {
    const day = new Date(now - Math.floor(k / LISTS) * 86_400_000).toISOString().slice(0, 10);
    return [day, (k % LISTS) + 1, 100 + (k % 37), 70 + (k % 23), 5 + (k % 7)] as const;
  });
  if ('sqliteFile' in target) {
    mkdirSync(path.dirname(target.sqliteFile), { recursive: true });
    await openSqliteDatabase(target.sqliteFile).close();
    const connection = new SqliteConnection(target.sqliteFile);
    try {
      const list = connection.prepare('insert or ignore into lists (id, slug, name, created_at) values (?, ?, ?, ?)');
      const contact = connection.prepare('insert into contacts (id, email, email_key, locale, created_at) values (?, ?, ?, ?, ?)');
      const subscription = connection.prepare(
        'insert into subscriptions (contact_id, list_id, status, created_at, confirmed_at, unsubscribed_at) values (?, ?, ?, ?, ?, ?)',
      );
      const day = connection.prepare(
        'insert into daily_list_stats (day, list_id, signups, confirmations, unsubscribes) values (?, ?, ?, ?, ?)',
      );
      connection.transaction(() => {
        for (const row of listRows) list.run(...row);
        for (let i = 1; i <= contacts; i++) {
          const email = `c${i}@d${i % 1000}.example`;
          const status = statusOf(i);
          contact.run(i, email, email, 'en', now);
          subscription.run(i, (i % LISTS) + 1, status, now, status === 'pending' ? null : now, status === 'unsubscribed' ? now : null);
        }
        for (const row of dayRows) day.run(...row);
      })();
    } finally {
      connection.close();
    }
  } else {
    const database = await openDatabaseFromConfig({
      databasePath: '',
      databaseUrl: target.postgresUrl,
      databasePoolMax: 2,
      databaseStatementTimeoutMs: 600_000,
      migrateOnStart: true,
    });
    const pool = (database.db as unknown as PgDb).$client;
    try {
      for (const row of listRows)
        await pool.query('insert into lists (id, slug, name, created_at) values ($1, $2, $3, $4) on conflict do nothing', [...row]);
      // Server-side generate_series: a million rows without sending them.
      await pool.query(
        `insert into contacts (id, email, email_key, locale, created_at)
         select i, 'c' || i || '@d' || (i % 1000) || '.example', 'c' || i || '@d' || (i % 1000) || '.example', 'en', $2::bigint from generate_series(1, $1::int) i`,
        [contacts, now],
      );
      await pool.query(`select setval(pg_get_serial_sequence('contacts', 'id'), $1::bigint)`, [contacts]);
      await pool.query(`select setval(pg_get_serial_sequence('lists', 'id'), $1::bigint)`, [LISTS]);
      await pool.query(
        `insert into subscriptions (contact_id, list_id, status, created_at, confirmed_at, unsubscribed_at)
         select i, (i % ${LISTS}) + 1, s, $2::bigint, case when s = 'pending' then null else $2::bigint end, case when s = 'unsubscribed' then $2::bigint end
         from (select i, case when i % 100 < ${CONFIRMED_SHARE * 100} then 'confirmed' when i % 100 < ${(CONFIRMED_SHARE + PENDING_SHARE) * 100} then 'pending' else 'unsubscribed' end as s
               from generate_series(1, $1::int) i) g`,
        [contacts, now],
      );
      for (const row of dayRows)
        await pool.query('insert into daily_list_stats (day, list_id, signups, confirmations, unsubscribes) values ($1, $2, $3, $4, $5)', [
          ...row,
        ]);
      // A running PostgreSQL has statistics and a visibility map (autovacuum); a fresh bulk load has neither.
      await pool.query('vacuum analyze subscriptions');
      await pool.query('vacuum analyze daily_list_stats');
    } finally {
      await database.close();
    }
  }
  return { contacts, seconds: round((performance.now() - start) / 1000) };
}

/**
 * dashboardStats in this process, counted on every call (no per-process cache): what one
 * uncached count of every list and 30 days of rollup cost, without HTTP.
 */
export async function timeUncachedStats(target: { sqliteFile: string } | { postgresUrl: string }, runs = 20): Promise<RequestTimes> {
  const database =
    'sqliteFile' in target
      ? openSqliteDatabase(target.sqliteFile)
      : await openDatabaseFromConfig({
          databasePath: '',
          databaseUrl: target.postgresUrl,
          databasePoolMax: 2,
          databaseStatementTimeoutMs: 60_000,
          migrateOnStart: false,
        });
  try {
    return await timeRuns(runs, () => dashboardStats(database, { days: 30, countsMaxAgeMs: 0 }));
  } finally {
    await database.close();
  }
}

export interface RequestTimes {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** GETs a URL `runs` times one after the other (after a few warm-up requests) and times each whole answer. */
export async function timeGets(url: string, headers: Record<string, string>, runs = 50): Promise<RequestTimes> {
  return timeRuns(runs, async () => {
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  });
}

/** Runs fn a few times to warm up, then `runs` times one after the other, timing each. */
async function timeRuns(runs: number, fn: () => Promise<unknown>): Promise<RequestTimes> {
  for (let i = 0; i < 5; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return {
    requests: runs,
    p50Ms: round(percentile(times, 50), 1),
    p99Ms: round(percentile(times, 99), 1),
    maxMs: round(Math.max(...times), 1),
  };
}
