import { AsyncLocalStorage } from 'node:async_hooks';
import SqliteConnection from 'better-sqlite3';
import { DrizzleQueryError, is, Table } from 'drizzle-orm';
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3';
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import { closeDatabase, openDatabase } from './client.js';
import { closePostgres, type PgDb } from './postgres.js';
import * as pgSchema from './schema.pg.js';
import * as sqliteSchema from './schema.js';

/**
 * One database, either engine, for domain code written once (see docs/architecture-db.md).
 *
 * Domain code is typed against drizzle's PostgreSQL query builder (`Handle`) and this dialect's
 * tables (`tables`, typed as the PostgreSQL ones). On SQLite the handle is the better-sqlite3
 * drizzle instance and the tables are schema.ts's: every query drizzle builds is SQLite's own,
 * the PostgreSQL types are only the common spelling. Both builders take the same calls as long
 * as the code awaits queries (no .get/.all/.run, which PostgreSQL lacks), reads what it wrote
 * with .returning(), and leaves the few real differences to the helpers below (row locks,
 * constraint errors). schema-parity.test.ts keeps the two sets of tables alike.
 */
export type Handle = PgDatabase<NodePgQueryResultHKT, typeof pgSchema>;

type TableExports<Module> = { [K in keyof Module as Module[K] extends Table ? K : never]: Module[K] };
export type Tables = TableExports<typeof pgSchema>;

export interface Database {
  readonly dialect: 'sqlite' | 'postgresql';
  readonly tables: Tables;
  /**
   * For reads outside a transaction. On SQLite it is a read-only connection of its own: a read
   * can never land inside another caller's open transaction (and see what it has not committed),
   * and a write here fails at once, which keeps the rule below honest in the SQLite test run.
   */
  readonly db: Handle;
  /**
   * Every write goes through here, with the handle it is given (never the root one inside).
   * PostgreSQL: a pooled connection, READ COMMITTED. SQLite: one writer connection, so
   * transactions take turns (an async mutex) and BEGIN IMMEDIATE takes the file's write lock up
   * front, as the other processes on the file expect. Nesting is refused on both.
   */
  transaction<T>(fn: (tx: Handle) => Promise<T>): Promise<T>;
  /** One round trip (a pooled connection on PostgreSQL), for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

function tablesOf<Module extends Record<string, unknown>>(module: Module): Tables {
  return Object.fromEntries(Object.entries(module).filter(([, value]) => is(value, Table))) as unknown as Tables;
}

/** Which databases the current async call chain holds a transaction on. */
const openTransactions = new AsyncLocalStorage<ReadonlySet<Database>>();

function refuseNesting<T>(database: Database, fn: () => Promise<T>): Promise<T> {
  const open = openTransactions.getStore() ?? new Set<Database>();
  if (open.has(database)) {
    return Promise.reject(new Error('a transaction was opened inside another on the same database: pass the `tx` you were given instead'));
  }
  return openTransactions.run(new Set([...open, database]), fn);
}

/** Runs functions one at a time, in call order, whatever they await. */
function createMutex() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const turn = tail.then(fn, fn);
    tail = turn.catch(() => {});
    return turn;
  };
}

export function openSqliteDatabase(file: string): Database {
  const writer = openDatabase(file);
  // ':memory:' cannot be opened twice: there, reads share the writer (and its open transaction).
  const reader =
    file === ':memory:'
      ? writer
      : drizzleSqlite(
          (() => {
            const connection = new SqliteConnection(file, { readonly: true });
            connection.pragma('busy_timeout = 5000');
            return connection;
          })(),
          { schema: sqliteSchema },
        );
  const exclusive = createMutex();
  const database: Database = {
    dialect: 'sqlite',
    tables: tablesOf(sqliteSchema),
    db: reader as unknown as Handle,
    transaction: (fn) =>
      refuseNesting(database, () =>
        exclusive(async () => {
          writer.$client.exec('BEGIN IMMEDIATE');
          try {
            const result = await fn(writer as unknown as Handle);
            writer.$client.exec('COMMIT');
            return result;
          } catch (error) {
            if (writer.$client.inTransaction) writer.$client.exec('ROLLBACK');
            throw error;
          }
        }),
      ),
    async ping() {
      writer.$client.prepare('select 1').get();
    },
    async close() {
      if (reader !== writer) reader.$client.close();
      closeDatabase(writer);
    },
  };
  return database;
}

export function postgresDatabase(db: PgDb): Database {
  const database: Database = {
    dialect: 'postgresql',
    tables: tablesOf(pgSchema),
    db,
    transaction: (fn) => refuseNesting(database, () => db.transaction(fn)),
    async ping() {
      await db.$client.query('select 1');
    },
    close: () => closePostgres(db),
  };
  return database;
}

/**
 * SELECT … FOR UPDATE on PostgreSQL: the rows stay locked until the transaction ends, so two
 * processes cannot both pass a check made on them. SQLite needs no lock: BEGIN IMMEDIATE
 * already made this transaction the only writer of the file.
 */
export function forUpdate<Query extends PromiseLike<unknown> & { for(strength: 'update'): PromiseLike<Awaited<Query>> }>(
  database: Database,
  query: Query,
): PromiseLike<Awaited<Query>> {
  return database.dialect === 'postgresql' ? query.for('update') : (query as PromiseLike<Awaited<Query>>);
}

/** A unique index or primary key refused the row (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY). */
export function isUniqueViolation(error: unknown): boolean {
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
