// npx tsx bench/prune.ts [--rows=1000000] [--db=postgres | --only=postgres] [--signups=200] [--gets=100]
//
// Issue 21: the cost of the relay's claim, a signup and the stats page must not grow with the
// messages already sent. Seeds `rows` sent outbox rows (older than OUTBOX_RETENTION) straight
// into the tables, measures the three, prunes them all (pruneOutbox, as the sweep does), and
// measures again. SQLite always; PostgreSQL after it with --db=postgres (a scratch database,
// dropped after). Needs Redis at REDIS_URL for the service the signups and the stats go through.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import SqliteConnection from 'better-sqlite3';
import type { Queue } from 'bullmq';
import { eq, inArray, sql } from 'drizzle-orm';
import { loadConfig } from '../src/config.js';
import { startOutboxRelay, pruneOutbox } from '../src/features/delivery/index.js';
import { createLogger } from '../src/logger.js';
import { openDatabaseFromConfig, openSqliteDatabase, type Database } from '../src/platform/db/database.js';
import type { PgDb } from '../src/platform/db/postgres.js';
import type { MailJob } from '../src/platform/queue/queues.js';
import { startService } from '../src/runtime.js';
import { createScratchDatabase, type ScratchDatabase } from '../test/support/postgres.js';
import { deleteRedisKeys, REDIS_URL } from '../test/support/service.js';
import { percentile, round } from './stats.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) =>
  args
    .find((a) => a.startsWith(`--${name}=`))
    ?.split('=')
    .slice(1)
    .join('=') ?? fallback;
const ROWS = Number(option('rows', '1000000'));
const SIGNUPS = Number(option('signups', '200'));
const GETS = Number(option('gets', '100'));
const CLAIMS = 30;
const dbOption = option('db', 'sqlite');
if (dbOption !== 'sqlite' && dbOption !== 'postgres') {
  console.error(`--db=${dbOption}: expected sqlite or postgres`);
  process.exit(2);
}
type Engine = 'sqlite' | 'postgres';
// --only=postgres (or sqlite): that engine alone.
const only = option('only', '');
const engines: Engine[] = only === 'postgres' || only === 'sqlite' ? [only] : dbOption === 'postgres' ? ['sqlite', 'postgres'] : ['sqlite'];

const DAY = 86_400_000;
const RETENTION = 30 * DAY;
/** Rows per subscription: its confirmation, its welcome and one row of each of the broadcasts. */
const BROADCASTS = 8;
const PER_SUBSCRIPTION = 2 + BROADCASTS;
/** Queued rows never handed: what the relay's claim finds among the sent ones. */
const PENDING = 100;
const SECRET = 'bench-secret-0123456789abcdef';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';

interface Times {
  p50Ms: number;
  p99Ms: number;
}
const timesOf = (values: number[]): Times => ({ p50Ms: round(percentile(values, 50), 2), p99Ms: round(percentile(values, 99), 2) });

async function timed(runs: number, fn: (i: number) => Promise<unknown>, before?: () => Promise<unknown>): Promise<Times> {
  for (let i = 0; i < 3; i++) {
    await before?.();
    await fn(-1 - i);
  }
  const values: number[] = [];
  for (let i = 0; i < runs; i++) {
    await before?.();
    const start = performance.now();
    await fn(i);
    values.push(performance.now() - start);
  }
  return timesOf(values);
}

interface Store {
  engine: Engine;
  dir: string;
  sqliteFile: string;
  scratch?: ScratchDatabase;
  prefix: string;
}

function open(store: Store): Promise<Database> {
  return store.scratch
    ? openDatabaseFromConfig({
        databasePath: '',
        databaseUrl: store.scratch.url,
        databasePoolMax: 4,
        databaseStatementTimeoutMs: 600_000,
        migrateOnStart: true,
      })
    : Promise.resolve(openSqliteDatabase(store.sqliteFile));
}

/**
 * `rows` sent messages, written straight to the tables (setup, not a measure): rows/10
 * contacts, each confirmed on the default list with its confirmation, its welcome and a row of
 * each of 8 sent broadcasts, written 90 to 31 days ago; and PENDING queued rows never handed.
 */
async function seed(store: Store, rows: number): Promise<number> {
  const start = performance.now();
  const contacts = Math.floor(rows / PER_SUBSCRIPTION);
  const now = Date.now();
  const oldest = now - 90 * DAY;
  const span = 59 * DAY;
  const database = await open(store);
  try {
    if (store.scratch) {
      const pool = (database.db as unknown as PgDb).$client;
      const at = `(${oldest}::bigint + (i::bigint * ${span}) / ${contacts})`;
      await pool.query(
        `insert into contacts (id, email, email_key, locale, created_at)
         select i, 'c' || i || '@d' || (i % 1000) || '.example', 'c' || i || '@d' || (i % 1000) || '.example', 'en', ${at} from generate_series(1, ${contacts}) i`,
      );
      await pool.query(
        `insert into subscriptions (id, contact_id, list_id, status, created_at, confirmed_at)
         select i, i, 1, 'confirmed', ${at}, ${at} + 60000 from generate_series(1, ${contacts}) i`,
      );
      for (const table of ['contacts', 'subscriptions'])
        await pool.query(`select setval(pg_get_serial_sequence('${table}', 'id'), ${contacts})`);
      await pool.query(
        `insert into broadcasts (id, list_id, subject, body, format, status, created_at, started_at, finished_at, total)
         select b, 1, '"News"', '"Hello"', 'markdown', 'sent', ${oldest}, ${oldest}, ${oldest} + ${span}, ${contacts} from generate_series(1, ${BROADCASTS}) b`,
      );
      await pool.query(`select setval(pg_get_serial_sequence('broadcasts', 'id'), ${BROADCASTS})`);
      await pool.query(
        `insert into outbox (id, kind, subscription_id, status, attempts, created_at, handed_at, sent_at)
         select gen_random_uuid()::text, k, i, 'sent', 1, ${at} + o, ${at} + o, ${at} + o + 2000
         from generate_series(1, ${contacts}) i, (values ('confirmation', 0), ('welcome', 120000)) kinds(k, o)`,
      );
      await pool.query(
        `insert into outbox (id, kind, subscription_id, status, attempts, created_at, handed_at, sent_at, broadcast_id)
         select 'bc' || b || '-' || i, 'broadcast', i, 'sent', 1, ${at} + b * 3600000, ${at} + b * 3600000, ${at} + b * 3600000 + 2000, b
         from generate_series(1, ${BROADCASTS}) b, generate_series(1, ${contacts}) i`,
      );
      await pool.query(
        `insert into outbox (id, kind, subscription_id, status, created_at)
         select gen_random_uuid()::text, 'confirmation', i, 'queued', ${now} from generate_series(1, ${PENDING}) i`,
      );
      // A running PostgreSQL has statistics and a visibility map (autovacuum); a fresh bulk load has neither.
      for (const table of ['contacts', 'subscriptions', 'outbox', 'broadcasts']) await pool.query(`vacuum analyze ${table}`);
    } else {
      await database.close();
      const connection = new SqliteConnection(store.sqliteFile);
      try {
        const contact = connection.prepare('insert into contacts (id, email, email_key, locale, created_at) values (?, ?, ?, ?, ?)');
        const subscription = connection.prepare(
          "insert into subscriptions (id, contact_id, list_id, status, created_at, confirmed_at) values (?, ?, 1, 'confirmed', ?, ?)",
        );
        const broadcast = connection.prepare(
          `insert into broadcasts (id, list_id, subject, body, format, status, created_at, started_at, finished_at, total)
           values (?, 1, '"News"', '"Hello"', 'markdown', 'sent', ?, ?, ?, ?)`,
        );
        const message = connection.prepare(
          `insert into outbox (id, kind, subscription_id, status, attempts, created_at, handed_at, sent_at, broadcast_id)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        connection.transaction(() => {
          for (let b = 1; b <= BROADCASTS; b++) broadcast.run(b, oldest, oldest, oldest + span, contacts);
          for (let i = 1; i <= contacts; i++) {
            const at = oldest + Math.floor((i * span) / contacts);
            const email = `c${i}@d${i % 1000}.example`;
            contact.run(i, email, email, 'en', at);
            subscription.run(i, i, at, at + 60_000);
            message.run(randomUUID(), 'confirmation', i, 'sent', 1, at, at, at + 2000, null);
            message.run(randomUUID(), 'welcome', i, 'sent', 1, at + 120_000, at + 120_000, at + 122_000, null);
          }
          for (let b = 1; b <= BROADCASTS; b++)
            for (let i = 1; i <= contacts; i++) {
              const at = oldest + Math.floor((i * span) / contacts) + b * 3_600_000;
              message.run(`bc${b}-${i}`, 'broadcast', i, 'sent', 1, at, at, at + 2000, b);
            }
          for (let i = 1; i <= PENDING; i++) message.run(randomUUID(), 'confirmation', i, 'queued', 0, now, null, null, null);
        })();
      } finally {
        connection.close();
      }
    }
  } finally {
    if (store.scratch) await database.close();
  }
  return round((performance.now() - start) / 1000);
}

/** A queue that takes every job and keeps none: the claim is measured, not Redis. */
const discardingQueue = { add: async () => undefined, addBulk: async () => [], getJob: async () => undefined } as unknown as Queue<MailJob>;

interface Measures {
  /** The messages relay's sweep: one claim of the PENDING unhanded rows (and their hand-over to a queue that keeps nothing). */
  claimPending: Times;
  /** The same sweep when nothing is due: the claim's look-up alone. */
  claimNothing: Times;
  /** POST /subscribe of a new address, answered after its group commit. */
  signupNew: Times;
  /** POST /subscribe of a contact whose past mail is in the outbox (before) or in mail_history (after), to a second list. */
  signupReturning: Times;
  /** GET /admin/api/stats (30 days, every list). */
  stats: Times;
}

/** The PENDING seeded rows (the only queued ones before the first measure's signups add theirs). */
async function seededPending(database: Database): Promise<string[]> {
  const { outbox } = database.tables;
  const rows = await database.db
    .select({ id: outbox.id })
    .from(outbox)
    .where(sql`${outbox.status} = 'queued' and ${outbox.broadcastId} is null`);
  if (rows.length !== PENDING) throw new Error(`${rows.length} queued rows, not the ${PENDING} seeded`);
  return rows.map((row) => row.id);
}

async function measure(store: Store, database: Database, pendingIds: readonly string[], returningFrom: number): Promise<Measures> {
  const logger = createLogger('silent');
  const relay = startOutboxRelay(database, discardingQueue, logger, { intervalMs: 3_600_000, rehandAfterMs: 3_600_000, batchSize: 500 });
  // The same rows due in every measure: the confirmations the earlier measures' signups queued count as handed just now.
  await database.transaction((tx) =>
    tx.db
      .update(tx.tables.outbox)
      .set({ handedAt: Date.now() })
      .where(sql`${tx.tables.outbox.status} = 'queued' and ${tx.tables.outbox.broadcastId} is null`),
  );
  const unhand = () =>
    database.transaction((tx) =>
      tx.db
        .update(tx.tables.outbox)
        .set({ handedAt: null })
        .where(inArray(tx.tables.outbox.id, [...pendingIds])),
    );
  let claimed = 0;
  const claimPending = await timed(CLAIMS, async () => (claimed = await relay.sweep()), unhand);
  if (claimed !== pendingIds.length) throw new Error(`the relay claimed ${claimed} rows, not the ${pendingIds.length} pending`);
  const claimNothing = await timed(CLAIMS, () => relay.sweep());
  await relay.stop();

  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_PATH: store.sqliteFile,
    ...(store.scratch ? { DATABASE_URL: store.scratch.url } : {}),
    REDIS_URL,
    QUEUE_PREFIX: store.prefix,
    SECRET,
    ADMIN_TOKEN,
    PUBLIC_URL: 'http://optin.bench',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '0',
  });
  const service = await startService(config, ['api']);
  try {
    const url = service.url!;
    const signup = async (email: string, list?: string) => {
      const res = await fetch(`${url}/subscribe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ email, ...(list ? { list } : {}) }),
      });
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`POST /subscribe answered ${res.status}`);
    };
    const run = randomUUID().slice(0, 8);
    const signupNew = await timed(SIGNUPS, (i) => signup(`new-${run}-${i + 3}@bench.example`));
    // Seeded contacts returningFrom… (each once), whose confirmations the per-address limits read.
    const signupReturning = await timed(Math.min(SIGNUPS, 100), (i) => {
      const n = returningFrom + i + 3;
      return signup(`c${n}@d${n % 1000}.example`, 'second');
    });
    const stats = await timed(GETS, async () => {
      const res = await fetch(`${url}/admin/api/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET /admin/api/stats answered ${res.status}`);
    });
    return { claimPending, claimNothing, signupNew, signupReturning, stats };
  } finally {
    await service.stop();
  }
}

/**
 * How the engine runs the relay's claim (outboxRelay.ts's query for the messages relay, written
 * out here to be explained): which index, and how many rows it reads to find the due ones.
 */
async function claimPlan(store: Store, database: Database): Promise<string> {
  const query = `select id, handed_at from outbox where broadcast_id is null and status = 'queued'
    and (handed_at is null or handed_at < ${Date.now()}) order by created_at limit 500`;
  if (store.scratch) {
    const client = await (database.db as unknown as PgDb).$client.connect();
    try {
      const explain = async (statement: string) =>
        (await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers, costs off, timing off) ${statement}`)).rows
          .map((row) => row['QUERY PLAN'])
          .join('\n');
      // The claim stamps what it selected: that update too, rolled back.
      await client.query('begin');
      const stamp = `update outbox set handed_at = handed_at where id in (select id from outbox where broadcast_id is null and status = 'queued' limit 100)`;
      const plans = `${await explain(query)}\nthe stamp:\n${await explain(stamp)}`;
      await client.query('rollback');
      return plans;
    } finally {
      client.release();
    }
  }
  const connection = new SqliteConnection(store.sqliteFile, { readonly: true });
  try {
    return (connection.prepare(`explain query plan ${query}`).all() as { detail: string }[]).map((row) => row.detail).join('\n');
  } finally {
    connection.close();
  }
}

async function tableFacts(store: Store, database: Database) {
  const { mailHistory, outbox } = database.tables;
  const [live] = await database.db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(outbox);
  const [kept] = await database.db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(mailHistory);
  // The pages the two tables and their indexes take (a deleted row's page is free for reuse; the file does not shrink without VACUUM).
  const bytesOf = async (table: string): Promise<number> => {
    if (store.scratch) {
      const { rows } = await (database.db as unknown as PgDb).$client.query<{ bytes: string }>(
        `select pg_total_relation_size('${table}') as bytes`,
      );
      return Number(rows[0]!.bytes);
    }
    const connection = new SqliteConnection(store.sqliteFile, { readonly: true });
    try {
      const row = connection
        .prepare('select sum(pgsize) as bytes from dbstat where name = ? or name in (select name from sqlite_schema where tbl_name = ?)')
        .get(table, table) as { bytes: number | null };
      return row.bytes ?? 0;
    } finally {
      connection.close();
    }
  };
  return {
    outboxRows: live!.n,
    historyRows: kept!.n,
    outboxMegabytes: round((await bytesOf('outbox')) / 1e6),
    historyMegabytes: round((await bytesOf('mail_history')) / 1e6),
  };
}

async function benchEngine(engine: Engine) {
  const dir = mkdtempSync(path.join(tmpdir(), 'optin-bench-prune-'));
  const store: Store = { engine, dir, sqliteFile: path.join(dir, 'optin.db'), prefix: `bench-prune-${randomUUID()}` };
  if (engine === 'postgres') store.scratch = await createScratchDatabase('optin_bench_prune');
  try {
    const loadBefore = loadavg()[0]!;
    const seedSeconds = await seed(store, ROWS);
    const database = await open(store);
    try {
      await database.transaction((tx) => tx.db.insert(tx.tables.lists).values({ slug: 'second', name: 'Second', createdAt: Date.now() }));
      const factsBefore = await tableFacts(store, database);
      const planBefore = await claimPlan(store, database);
      const pendingIds = await seededPending(database);
      const before = await measure(store, database, pendingIds, 1000);
      const start = performance.now();
      const batches = await pruneOutbox(database, RETENTION);
      const pruneSeconds = round((performance.now() - start) / 1000);
      const pruned = batches.reduce((sum, n) => sum + n, 0);
      const factsAfter = await tableFacts(store, database);
      const planAfter = await claimPlan(store, database);
      const after = await measure(store, database, pendingIds, 2000);
      // PostgreSQL keeps the pruned rows' dead tuples and index entries until a vacuum (autovacuum
      // comes soon after a million deletes): measured right after the pruning, once vacuumed as
      // autovacuum would (the file keeps its size), and once rewritten by VACUUM FULL.
      let vacuumed: Measures | undefined;
      let planVacuumed: string | undefined;
      let rewritten: Measures | undefined;
      if (store.scratch) {
        const pool = (database.db as unknown as PgDb).$client;
        for (const table of ['outbox', 'mail_history', 'broadcasts']) await pool.query(`vacuum analyze ${table}`);
        planVacuumed = await claimPlan(store, database);
        vacuumed = await measure(store, database, pendingIds, 3000);
        await pool.query('vacuum full analyze outbox');
        rewritten = await measure(store, database, pendingIds, 4000);
      }
      const [{ prunedSent } = { prunedSent: 0 }] = await database.db
        .select({ prunedSent: database.tables.broadcasts.prunedSent })
        .from(database.tables.broadcasts)
        .where(eq(database.tables.broadcasts.id, 1));
      return {
        engine,
        rows: ROWS,
        seedSeconds,
        factsBefore,
        before,
        prune: { pruned, transactions: batches.length, seconds: pruneSeconds, rowsPerSecond: Math.round(pruned / pruneSeconds) },
        broadcast1PrunedSent: prunedSent,
        factsAfter,
        after,
        vacuumed,
        rewritten,
        planBefore,
        planAfter,
        planVacuumed,
        loadAverage: [round(loadBefore, 2), round(loadavg()[0]!, 2)],
      };
    } finally {
      await database.close();
    }
  } finally {
    await deleteRedisKeys(`${store.prefix}:*`);
    await store.scratch?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Awaited<ReturnType<typeof benchEngine>>[] = [];
for (const engine of engines) {
  const result = await benchEngine(engine);
  results.push(result);
  console.error(JSON.stringify(result));
}

const ms = (t: Times) => `${t.p50Ms} / ${t.p99Ms} ms`;
const rowsOf = (label: string, pick: (m: Measures) => Times) =>
  results.map(
    (r) =>
      `| ${label} | ${r.engine} | ${ms(pick(r.before))} | ${ms(pick(r.after))} | ` +
      `${r.vacuumed ? ms(pick(r.vacuumed)) : '—'} | ${r.rewritten ? ms(pick(r.rewritten)) : '—'} |`,
  );
console.log(`\n${ROWS.toLocaleString('en')} sent rows; p50 / p99; load average (1 min) at the start and end of each engine's run:`);
for (const r of results) console.log(`- ${r.engine}: ${r.loadAverage.join(' → ')}`);
console.log(
  '\n| measure | engine | before pruning | right after pruning | after a vacuum | after VACUUM FULL |\n| --- | --- | ---: | ---: | ---: | ---: |',
);
for (const line of [
  ...rowsOf(`the relay's sweep, ${PENDING} rows due`, (m) => m.claimPending),
  ...rowsOf("the relay's sweep, nothing due", (m) => m.claimNothing),
  ...rowsOf('POST /subscribe, a new address', (m) => m.signupNew),
  ...rowsOf('POST /subscribe, a contact with 10 past messages', (m) => m.signupReturning),
  ...rowsOf('GET /admin/api/stats', (m) => m.stats),
])
  console.log(line);
console.log('\n| engine | pruned | transactions | seconds | rows/s | outbox rows | outbox MB | mail_history rows, MB |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results)
  console.log(
    `| ${r.engine} | ${r.prune.pruned.toLocaleString('en')} | ${r.prune.transactions} | ${r.prune.seconds} | ${r.prune.rowsPerSecond.toLocaleString('en')} | ` +
      `${r.factsBefore.outboxRows.toLocaleString('en')} → ${r.factsAfter.outboxRows.toLocaleString('en')} | ` +
      `${r.factsBefore.outboxMegabytes} → ${r.factsAfter.outboxMegabytes} | ${r.factsAfter.historyRows.toLocaleString('en')}, ${r.factsAfter.historyMegabytes} |`,
  );
for (const r of results)
  console.log(
    `\nThe claim's plan, ${r.engine}, before pruning:\n${r.planBefore}\nafter:\n${r.planAfter}` +
      (r.planVacuumed ? `\nafter a vacuum:\n${r.planVacuumed}` : ''),
  );
process.exit(0);
