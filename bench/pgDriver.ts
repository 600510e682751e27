// npm run bench:pg-driver [-- --seconds=4] [--rounds=3] [--no-sync-commit]
// Chooses the PostgreSQL driver by measurement: node-postgres (`pg`) against postgres.js
// (`postgres`), both under drizzle, on a scratch database of the local server (127.0.0.1:5432).
// Per driver: (a) insert + select round trips on one connection, built inline and prepared;
// (b) short transactions (BEGIN; select; insert; insert; COMMIT) from 32 callers on a pool of 10;
// (c) CPU of this process per operation (process.cpuUsage: user + system, server not counted).
// Every variant warms first; then each round runs every measure once per driver, alternating
// which driver goes first, and the medians are printed. --no-sync-commit sets synchronous_commit=off on the
// bench's sessions, so the disk's flush time stops hiding the drivers' own cost.
// The results are in docs/performance.md.
import { cpus, loadavg } from 'node:os';
import { eq, sql } from 'drizzle-orm';
import { drizzle as drizzleNodePg, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator';
import { drizzle as drizzlePostgresJs, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import postgres from 'postgres';
import * as schema from '../src/platform/db/schema.pg.js';
import { consentEvents, contacts, lists } from '../src/platform/db/schema.pg.js';
import { createScratchDatabase } from '../test/support/postgres.js';
import { PG_MIGRATIONS_FOLDER } from '../src/platform/db/postgres.js';
import { round } from './stats.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const SECONDS = option('seconds', 4);
const ROUNDS = option('rounds', 3);
const POOL = 10;
const CALLERS = 32;
const WARMUP_MS = 2000;
/** Server settings for the bench's sessions, passed at connection start by either driver. */
const SESSION: Record<string, string> = args.includes('--no-sync-commit') ? { synchronous_commit: 'off' } : {};

type Handle = NodePgDatabase<typeof schema> | PostgresJsDatabase<typeof schema>;
interface Driver {
  name: string;
  open(url: string, max: number): { db: Handle; close(): Promise<void> };
}

const drivers: Driver[] = [
  {
    name: 'pg (node-postgres)',
    open(url, max) {
      const options = Object.entries(SESSION)
        .map(([k, v]) => `-c ${k}=${v}`)
        .join(' ');
      const pool = new pg.Pool({ connectionString: url, max, ...(options ? { options } : {}) });
      return { db: drizzleNodePg(pool, { schema }), close: () => pool.end() };
    },
  },
  {
    name: 'postgres (postgres.js)',
    open(url, max) {
      const client = postgres(url, { max, onnotice: () => {}, connection: SESSION });
      return { db: drizzlePostgresJs(client, { schema }), close: () => client.end() };
    },
  },
];

interface Measure {
  perSecond: number;
  cpuUsPerOp: number;
}

let addressCounter = 0;
const nextAddress = () => `bench-${process.pid}-${addressCounter++}@example.com`;
const newContact = () => {
  const email = nextAddress();
  return { email, emailKey: email, locale: 'en', createdAt: Date.now() };
};

/** Runs `callers` loops of `op` for `ms`; operations per second and CPU µs per operation. */
async function measure(callers: number, op: () => Promise<void>, ms: number): Promise<Measure> {
  let ops = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const until = started + ms;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < until) {
        await op();
        ops++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: round(ops / elapsed, 0), cpuUsPerOp: round((used.user + used.system) / ops, 1) };
}

interface Opened {
  driver: Driver;
  /** One connection: the round-trip measures. */
  single: { db: Handle; close(): Promise<void> };
  /** A pool of POOL: the transaction measure. */
  pooled: { db: Handle; close(): Promise<void> };
  insertPrepared: { execute(values: { email: string; at: number }): Promise<{ id: number }[]> };
  selectPrepared: { execute(values: { id: number }): Promise<unknown[]> };
}

function openDriver(driver: Driver, url: string): Opened {
  const single = driver.open(url, 1);
  // Both drivers' handles build the same queries; the union type only needs one call signature.
  const d = single.db as NodePgDatabase<typeof schema>;
  return {
    driver,
    single,
    pooled: driver.open(url, POOL),
    insertPrepared: d
      .insert(contacts)
      .values({ email: sql.placeholder('email'), emailKey: sql.placeholder('email'), locale: 'en', createdAt: sql.placeholder('at') })
      .returning({ id: contacts.id })
      .prepare('bench_insert_contact'),
    selectPrepared: d
      .select()
      .from(contacts)
      .where(eq(contacts.id, sql.placeholder('id')))
      .prepare('bench_select_contact'),
  };
}

const MEASURES: Record<string, { callers: number; op: (o: Opened) => () => Promise<void> }> = {
  'a. insert+select, 1 connection, built inline': {
    callers: 1,
    op: (o) => {
      const d = o.single.db as NodePgDatabase<typeof schema>;
      return async () => {
        const [row] = await d.insert(contacts).values(newContact()).returning({ id: contacts.id });
        await d.select().from(contacts).where(eq(contacts.id, row!.id));
      };
    },
  },
  'a. insert+select, 1 connection, prepared': {
    callers: 1,
    op: (o) => async () => {
      const [row] = await o.insertPrepared.execute({ email: nextAddress(), at: Date.now() });
      await o.selectPrepared.execute({ id: row!.id });
    },
  },
  [`b. transaction (select + 2 inserts), pool ${POOL}, ${CALLERS} callers`]: {
    callers: CALLERS,
    op: (o) => {
      const d = o.pooled.db as NodePgDatabase<typeof schema>;
      return async () => {
        await d.transaction(async (tx) => {
          const [list] = await tx.select({ id: lists.id }).from(lists).where(eq(lists.slug, 'default'));
          const [contact] = await tx.insert(contacts).values(newContact()).returning({ id: contacts.id });
          await tx.insert(consentEvents).values({ contactId: contact!.id, listId: list!.id, action: 'signup', at: Date.now() });
        });
      };
    },
  },
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const scratch = await createScratchDatabase('optin_bench_driver');
try {
  {
    const pool = new pg.Pool({ connectionString: scratch.url, max: 1 });
    await migrateNodePg(drizzleNodePg(pool), { migrationsFolder: PG_MIGRATIONS_FOLDER });
    await pool.end();
  }
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}, load ${loadavg()
      .map((l) => round(l, 2))
      .join(' ')}`,
  );
  console.log(
    `${SECONDS} s per measure, ${ROUNDS} rounds, session ${JSON.stringify(SESSION)}; CPU is this process only (the server's is not counted)`,
  );
  const opened = drivers.map((driver) => openDriver(driver, scratch.url));
  try {
    // JIT, connections and the server's caches warm for every variant before anything counts.
    for (const o of opened) for (const m of Object.values(MEASURES)) await measure(m.callers, m.op(o), WARMUP_MS);
    const runs = new Map<string, Measure[]>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, m] of Object.entries(MEASURES)) {
        const order = r % 2 === 0 ? opened : [...opened].reverse();
        for (const o of order) {
          const key = `${o.driver.name}\t${name}`;
          runs.set(key, [...(runs.get(key) ?? []), await measure(m.callers, m.op(o), SECONDS * 1000)]);
        }
      }
    }
    for (const name of Object.keys(MEASURES)) {
      console.log(`\n${name}`);
      for (const o of opened) {
        const measures = runs.get(`${o.driver.name}\t${name}`)!;
        const rates = measures.map((m) => m.perSecond);
        const cpu = measures.map((m) => m.cpuUsPerOp);
        console.log(
          `  ${o.driver.name.padEnd(24)} ops/s median ${String(median(rates)).padStart(6)} (${rates.join(' / ')})   ` +
            `CPU µs/op median ${String(median(cpu)).padStart(7)} (${cpu.join(' / ')})`,
        );
      }
    }
  } finally {
    for (const o of opened) await Promise.all([o.single.close(), o.pooled.close()]);
  }
} finally {
  await scratch.drop();
}
