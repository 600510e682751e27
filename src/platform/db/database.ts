import { AsyncLocalStorage } from 'node:async_hooks';
import SqliteConnection from 'better-sqlite3';
import { DrizzleQueryError, is, Table } from 'drizzle-orm';
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3';
import { drizzle as drizzlePg, type NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { Config } from '../../config.js';
import { closeDatabase, openDatabase, type SqliteDb } from './client.js';
import { assertPostgresMigrated, closePostgres, migratePostgres, openPostgres, type PgDb } from './postgres.js';
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
 * constraint errors, savepoints). schema-parity.test.ts keeps the two sets of tables alike.
 */
export type Handle = PgDatabase<NodePgQueryResultHKT, typeof pgSchema>;

type TableExports<Module> = { [K in keyof Module as Module[K] extends Table ? K : never]: Module[K] };
export type Tables = TableExports<typeof pgSchema>;

/** A row of a table, as the schema names it: `Row<'contacts'>`. */
export type Row<K extends keyof Tables> = Tables[K]['$inferSelect'];

/**
 * What a query needs: a handle and this engine's tables. A transaction is a Scope (its `db` is
 * the transaction's handle); so is the Database itself, for reads outside a transaction.
 */
export interface Scope {
  readonly dialect: 'sqlite' | 'postgresql';
  readonly tables: Tables;
  readonly db: Handle;
}

export interface Database extends Scope {
  /**
   * For reads outside a transaction. On SQLite it is a read-only connection of its own: a read
   * can never land inside another caller's open transaction (and see what it has not committed),
   * and a write here fails at once, which keeps the rule below honest in the SQLite test run.
   */
  readonly db: Handle;
  /**
   * Every write goes through here, with the Scope it is given (never the root one inside).
   * PostgreSQL: a pooled connection, READ COMMITTED. SQLite: one writer connection, so
   * transactions take turns (an async mutex) and BEGIN IMMEDIATE takes the file's write lock up
   * front, as the other processes on the file expect. Nesting is refused on both: pass `tx` down.
   * Await nothing but the database inside (no Redis, no SMTP): on SQLite everyone waits for it.
   */
  transaction<T>(fn: (tx: Scope) => Promise<T>): Promise<T>;
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

/**
 * Runs one write statement that needs no transaction around it. On PostgreSQL a single statement
 * is atomic on its own, so it runs on the pool in one round trip instead of three (BEGIN, the
 * statement, COMMIT): on the send path those round trips were most of what a message cost the
 * process. SQLite's root handle is read-only, so there it is a transaction of its own.
 */
export function writeAlone<T>(database: Database, statement: (scope: Scope) => Promise<T>): Promise<T> {
  return database.dialect === 'postgresql' ? statement(database) : database.transaction(statement);
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

/** How a transaction Scope sets, releases and rolls back to a savepoint on its connection. */
interface SavepointControl {
  /** Whether the transaction is still open (SQLite may roll back on its own after some errors). */
  inTransaction(): boolean;
  exec(statement: string): Promise<void>;
  counter: number;
}

/** Transaction scopes this module handed out, with what savepoint() needs to act on them. */
const savepointControls = new WeakMap<Scope, SavepointControl>();

/**
 * Runs fn in a savepoint of the caller's transaction: when fn throws, what it wrote is rolled
 * back and the error goes on to the caller, while the transaction (and what it wrote before or
 * writes after) stays. One savepoint at a time per transaction: await each before the next.
 * fn gets the same Scope, so statements prepared on it stay valid.
 */
export async function savepoint<T>(tx: Scope, fn: (tx: Scope) => Promise<T>): Promise<T> {
  const control = savepointControls.get(tx);
  if (!control || !control.inTransaction()) throw new Error('savepoint() needs the `tx` of an open transaction');
  control.counter += 1;
  const name = `optin_sp${control.counter}`;
  await control.exec(`savepoint ${name}`);
  try {
    const result = await fn(tx);
    await control.exec(`release savepoint ${name}`);
    return result;
  } catch (error) {
    if (control.inTransaction()) {
      await control.exec(`rollback to savepoint ${name}`);
      await control.exec(`release savepoint ${name}`);
    }
    throw error;
  }
}

/**
 * Runs fn for each item, each in its own savepoint of the caller's transaction, one after the
 * other: an item whose fn throws has what it wrote rolled back and its error in its result,
 * while the others' writes stay. The same as savepoint() per item, in fewer round trips: the
 * release (or rollback) of one savepoint and the setting of the next go to the server as one
 * message. If the transaction itself ends on a failure (SQLite may roll back on its own), the
 * error is thrown: nothing of the transaction will be committed.
 */
export async function eachInSavepoint<Item, Result>(
  tx: Scope,
  items: readonly Item[],
  fn: (tx: Scope, item: Item) => Promise<Result>,
): Promise<PromiseSettledResult<Result>[]> {
  const control = savepointControls.get(tx);
  if (!control || !control.inTransaction()) throw new Error('eachInSavepoint() needs the `tx` of an open transaction');
  const results: PromiseSettledResult<Result>[] = [];
  let endPrevious = '';
  for (const item of items) {
    control.counter += 1;
    const name = `optin_sp${control.counter}`;
    await control.exec(`${endPrevious}savepoint ${name}`);
    try {
      results.push({ status: 'fulfilled', value: await fn(tx, item) });
      endPrevious = `release savepoint ${name}; `;
    } catch (error) {
      if (!control.inTransaction()) throw error;
      results.push({ status: 'rejected', reason: error });
      endPrevious = `rollback to savepoint ${name}; release savepoint ${name}; `;
    }
  }
  if (endPrevious) await control.exec(endPrevious);
  return results;
}

/** Tries at BEGIN IMMEDIATE; each already waits up to the connection's busy_timeout. */
const BEGIN_ATTEMPTS = 3;

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * BEGIN IMMEDIATE takes the write lock before the first read: a deferred transaction that reads
 * and then writes is refused at once with SQLITE_BUSY (busy_timeout does not apply) when another
 * process (an API beside a worker) committed in between, and an opt-out refused that way is lost.
 * It waits for the lock up to busy_timeout; if the other process holds it longer still (a big
 * import batch, a checkpoint on a slow disk), BEGIN is tried a few more times: a slow answer
 * beats a lost opt-out. Only BEGIN is retried, never the work, so it is never done twice.
 */
function beginImmediate(writer: SqliteDb): void {
  for (let attempt = 1; ; attempt += 1) {
    try {
      writer.$client.exec('BEGIN IMMEDIATE');
      return;
    } catch (error) {
      if (!isBusy(error) || attempt >= BEGIN_ATTEMPTS) throw error;
    }
  }
}

export interface SqliteOptions {
  /** Apply pending migrations (MIGRATE_ON_START); false: refuse to open a database that is behind. */
  migrate?: boolean;
  /** How long a connection waits for another process's lock before SQLITE_BUSY (default 5000 ms; tests shorten it). */
  busyTimeoutMs?: number;
}

export function openSqliteDatabase(file: string, options: SqliteOptions = {}): Database {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const writer = openDatabase(file, { migrate: options.migrate ?? true, busyTimeoutMs });
  // ':memory:' cannot be opened twice: there, reads share the writer (and its open transaction).
  const reader =
    file === ':memory:'
      ? writer
      : drizzleSqlite(
          (() => {
            const connection = new SqliteConnection(file, { readonly: true });
            connection.pragma(`busy_timeout = ${busyTimeoutMs}`);
            return connection;
          })(),
          { schema: sqliteSchema },
        );
  const tables = tablesOf(sqliteSchema);
  // One writer connection, so one transaction Scope for the life of the database: statements
  // prepared on it (preparedPerHandle) are built once.
  const writerScope: Scope = { dialect: 'sqlite', tables, db: writer as unknown as Handle };
  const writerSavepoints: SavepointControl = {
    inTransaction: () => writer.$client.inTransaction,
    exec: async (statement) => void writer.$client.exec(statement),
    counter: 0,
  };
  savepointControls.set(writerScope, writerSavepoints);
  const exclusive = createMutex();
  const database: Database = {
    dialect: 'sqlite',
    tables,
    db: reader as unknown as Handle,
    transaction: (fn) =>
      refuseNesting(database, () =>
        exclusive(async () => {
          beginImmediate(writer);
          writerSavepoints.counter = 0;
          try {
            const result = await fn(writerScope);
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
  const tables = tablesOf(pgSchema);
  const pool = db.$client;
  // One drizzle handle per pooled connection, kept as long as the pool keeps the connection: the
  // statements prepared on it (preparedPerHandle) are built once per connection instead of once
  // per transaction, and still run on that connection, so inside whichever transaction holds it.
  const connectionHandles = new WeakMap<pg.PoolClient, Handle>();
  const handleOf = (client: pg.PoolClient) => {
    let handle = connectionHandles.get(client);
    if (!handle) connectionHandles.set(client, (handle = drizzlePg(client, { schema: pgSchema }) as unknown as Handle));
    return handle;
  };
  const database: Database = {
    dialect: 'postgresql',
    tables,
    db,
    transaction: (fn) =>
      refuseNesting(database, async () => {
        const client = await pool.connect();
        try {
          await client.query('begin');
        } catch (error) {
          client.release(error as Error);
          throw error;
        }
        // A new Scope per transaction (savepoints, address locks are the transaction's); its handle is the connection's.
        let open = true;
        const tx: Scope = { dialect: 'postgresql', tables, db: handleOf(client) };
        savepointControls.set(tx, {
          inTransaction: () => open,
          exec: async (statement) => void (await client.query(statement)),
          counter: 0,
        });
        try {
          const result = await fn(tx);
          open = false;
          await client.query('commit');
          client.release();
          return result;
        } catch (error) {
          open = false;
          // A connection that cannot even roll back is broken: the pool drops it instead of handing it out again.
          await client.query('rollback').then(
            () => client.release(),
            (rollbackError: unknown) => client.release(rollbackError as Error),
          );
          throw error;
        }
      }),
    async ping() {
      await db.$client.query('select 1');
    },
    close: () => closePostgres(db),
  };
  return database;
}

/** What openDatabaseFromConfig reads of the configuration. */
export type DatabaseConfig = Pick<
  Config,
  'databasePath' | 'databaseUrl' | 'databasePoolMax' | 'databaseStatementTimeoutMs' | 'migrateOnStart'
>;

/**
 * The database the configuration names: PostgreSQL when DATABASE_URL is set (checked reachable,
 * then migrated, or checked migrated when MIGRATE_ON_START=false), else the SQLite file at
 * DATABASE_PATH, migrated as it always was (or refused when behind with MIGRATE_ON_START=false).
 */
export async function openDatabaseFromConfig(
  config: DatabaseConfig,
  options: { onIdleError?: (error: Error) => void } = {},
): Promise<Database> {
  if (config.databaseUrl === undefined) return openSqliteDatabase(config.databasePath, { migrate: config.migrateOnStart });
  const db = await openPostgres(config.databaseUrl, {
    poolMax: config.databasePoolMax,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    ...(options.onIdleError ? { onIdleError: options.onIdleError } : {}),
  });
  try {
    if (config.migrateOnStart) await migratePostgres(db);
    else await assertPostgresMigrated(db);
  } catch (error) {
    await closePostgres(db).catch(() => {});
    throw error;
  }
  return postgresDatabase(db);
}

/**
 * SELECT … FOR UPDATE on PostgreSQL: the rows stay locked until the transaction ends, so two
 * processes cannot both pass a check made on them. SQLite needs no lock: BEGIN IMMEDIATE
 * already made this transaction the only writer of the file.
 */
export function forUpdate<Query extends PromiseLike<unknown> & { for(strength: 'update'): PromiseLike<Awaited<Query>> }>(
  scope: Scope,
  query: Query,
): PromiseLike<Awaited<Query>> {
  return scope.dialect === 'postgresql' ? query.for('update') : (query as PromiseLike<Awaited<Query>>);
}

/** A unique index or primary key refused the row (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY). */
export function isUniqueViolation(error: unknown): boolean {
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
