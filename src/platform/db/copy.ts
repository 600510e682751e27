import { asc, count, DrizzleQueryError, getTableColumns, gt, is, ne, sql, Table, type Column } from 'drizzle-orm';
import { getTableConfig as getTableConfigPg, type PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import type { SqliteDb } from './client.js';
import type { PgDb } from './postgres.js';
import * as pgSchema from './schema.pg.js';
import * as sqliteSchema from './schema.js';

/**
 * `admin db copy`: an existing SQLite installation into a PostgreSQL database, as it is (ids
 * kept, the consent log, the keyed-hash suppression entries, the outbox with its states).
 *
 * Which tables: every table of the schema, parents before children (from the foreign keys).
 * The SQLite file and the target may hold only those and the ones SKIPPED_TABLES names: a table
 * added to a migration but not to the schema stops the copy instead of being left behind.
 * Reads: one read transaction on the file (a consistent snapshot), in keyset batches by primary
 * key, so no table is ever held in memory whole. Writes: one PostgreSQL transaction, with the
 * tables locked against writers; the row counts are checked before the commit, so a failure or
 * a mismatch leaves the target as it was.
 */

/** Tables the copy leaves out on purpose, with why. Any other table not in the schema stops it. */
export const SKIPPED_TABLES: Readonly<Record<string, string>> = {
  __drizzle_migrations: 'migration bookkeeping: the target keeps its own (it is migrated first)',
};

/** sqlite_sequence, sqlite_stat1…: SQLite's own (user tables cannot take the prefix); sqlite_sequence is read for the sequences. */
const isSqliteInternal = (name: string) => name.startsWith('sqlite_');

/**
 * What a migrated PostgreSQL database holds before anyone used it: the default list migration
 * 0001 seeds, and the data migrations a start of the service records. The copy replaces these
 * with the source's own; any other row means the target is in use, and the copy refuses it.
 */
const SEEDED_LIST_SLUG = 'default';

/** Rows per statement: 1,000 rows of at most a dozen columns stay far below PostgreSQL's 65,535 parameters. */
const BATCH_ROWS = 1000;

export interface TablePlan {
  /** SQL name, the same on both engines. */
  name: string;
  source: SQLiteTable;
  target: PgTable;
  /** The primary key's property name on rows (the keyset batches go by it). */
  key: string;
  keyColumn: Column;
}

export interface TableCount {
  table: string;
  source: number;
  target: number;
}

export class CopyError extends Error {
  constructor(
    message: string,
    readonly counts: TableCount[] = [],
  ) {
    super(message);
    this.name = 'CopyError';
  }
}

/** A schema module's tables by export name (the same names in schema.ts and schema.pg.ts). */
function schemaTables<T extends Table>(module: Record<string, unknown>): Map<string, T> {
  return new Map(Object.entries(module).filter((entry): entry is [string, T] => is(entry[1], Table)));
}

/**
 * The tables to copy, parents first. The order comes from the foreign keys of schema.ts, so a
 * new table lands in its place by itself; the PostgreSQL twin must have the same table under
 * the same export with the same columns (test/unit/schema-parity.test.ts checks much more).
 */
export function copyPlan(): TablePlan[] {
  const sqliteTables = schemaTables<SQLiteTable>(sqliteSchema);
  const pgTables = schemaTables<PgTable>(pgSchema);
  const exportNames = new Map([...sqliteTables].map(([exportName, table]) => [table, exportName]));
  const ordered: SQLiteTable[] = [];
  const visiting = new Set<SQLiteTable>();
  const visit = (table: SQLiteTable) => {
    if (ordered.includes(table)) return;
    if (visiting.has(table))
      throw new CopyError(`the foreign keys of ${getTableConfig(table).name} make a cycle: db copy cannot order the tables`);
    visiting.add(table);
    for (const foreignKey of getTableConfig(table).foreignKeys) {
      const parent = foreignKey.reference().foreignTable;
      if (parent !== table) visit(parent);
    }
    visiting.delete(table);
    ordered.push(table);
  };
  for (const table of sqliteTables.values()) visit(table);

  return ordered.map((source) => {
    const name = getTableConfig(source).name;
    const exportName = exportNames.get(source);
    const target = exportName === undefined ? undefined : pgTables.get(exportName);
    if (!target || getTableConfigPg(target).name !== name)
      throw new CopyError(`schema.pg.ts has no twin of ${name}: db copy has nowhere to put it`);
    const sourceColumns = Object.keys(getTableColumns(source)).sort();
    const targetColumns = Object.keys(getTableColumns(target)).sort();
    if (sourceColumns.join() !== targetColumns.join()) {
      throw new CopyError(
        `${name} has other columns in schema.pg.ts (${targetColumns.join(', ')}) than in schema.ts (${sourceColumns.join(', ')})`,
      );
    }
    const keys = Object.entries(getTableColumns(source)).filter(([, column]) => column.primary);
    if (keys.length !== 1) throw new CopyError(`${name} has no one-column primary key: db copy reads tables in batches by it`);
    const [key, keyColumn] = keys[0]!;
    return { name, source, target, key, keyColumn };
  });
}

/** Names in `found` that are neither in the plan nor skipped on purpose. */
function unplanned(found: readonly string[], plan: readonly TablePlan[]): string[] {
  return found.filter((name) => !isSqliteInternal(name) && !(name in SKIPPED_TABLES) && !plan.some((table) => table.name === name));
}

/** An error's own message; for a refused query, the server's words rather than the whole statement. */
export function causeMessage(error: unknown): string {
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}

export interface CopyOptions {
  /** Called once the rows to copy are counted, and after each batch. */
  onProgress?: (copied: number, total: number) => void;
  batchRows?: number;
}

/**
 * Copies every table of the SQLite database into the (migrated) PostgreSQL database, in one
 * transaction, and returns the row counts of both, table by table. Throws a CopyError, with
 * nothing written, when a table is unaccounted for, the target already holds data, a row is
 * refused, or a count differs after the copy.
 */
export async function copySqliteToPostgres(source: SqliteDb, target: PgDb, options: CopyOptions = {}): Promise<TableCount[]> {
  const plan = copyPlan();
  const batchRows = options.batchRows ?? BATCH_ROWS;
  const sourceTables = (source.$client.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]).map(
    (row) => row.name,
  );
  const strays = unplanned(sourceTables, plan);
  if (strays.length > 0) {
    throw new CopyError(
      `the SQLite database has table(s) db copy neither copies nor skips: ${strays.join(', ')} (add them to the schema, or to SKIPPED_TABLES in src/db/copy.ts with the reason)`,
    );
  }
  const missing = plan.filter((table) => !sourceTables.includes(table.name)).map((table) => table.name);
  if (missing.length > 0) throw new CopyError(`the SQLite database lacks table(s) ${missing.join(', ')}: is it this project's database?`);

  // A deferred transaction takes its snapshot at the first read and keeps it to the end (WAL):
  // every table is read as of one moment, even if a service still writes to the file.
  source.$client.exec('BEGIN');
  try {
    const sourceCounts = new Map(plan.map((table) => [table.name, source.select({ n: count() }).from(table.source).get()!.n]));
    /** SQLite's AUTOINCREMENT high-water marks: ids of deleted rows are never given again. */
    const highWater = new Map<string, number>(
      sourceTables.includes('sqlite_sequence')
        ? (source.$client.prepare('select name, seq from sqlite_sequence').all() as { name: string; seq: number }[]).map((row) => [
            row.name,
            Number(row.seq),
          ])
        : [],
    );
    const total = [...sourceCounts.values()].reduce((sum, n) => sum + n, 0);
    options.onProgress?.(0, total);

    return await target.transaction(async (tx) => {
      const { rows: targetTables } = await tx.execute<{ name: string }>(
        sql`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`,
      );
      const targetStrays = unplanned(
        targetTables.map((row) => row.name),
        plan,
      );
      if (targetStrays.length > 0)
        throw new CopyError(`the PostgreSQL database has table(s) db copy neither copies nor skips: ${targetStrays.join(', ')}`);

      // Nobody writes to the target while it is checked and filled (a service already started on it waits).
      await tx.execute(sql.raw(`lock table ${plan.map((table) => `"${table.name}"`).join(', ')} in exclusive mode`));
      await refuseTargetInUse(tx, plan);
      await tx.delete(pgSchema.dataMigrations);
      await tx.delete(pgSchema.lists);

      let copied = 0;
      for (const table of plan) {
        let last: unknown;
        for (;;) {
          const rows = source
            .select()
            .from(table.source)
            .where(last === undefined ? undefined : gt(table.keyColumn, last))
            .orderBy(asc(table.keyColumn))
            .limit(batchRows)
            .all() as Record<string, unknown>[];
          if (rows.length === 0) break;
          try {
            await tx.insert(table.target).values(rows);
          } catch (error) {
            throw new CopyError(
              `${table.name}: PostgreSQL refused a row after ${table.key} ${JSON.stringify(last ?? null)}: ${causeMessage(error)}`,
            );
          }
          copied += rows.length;
          options.onProgress?.(copied, total);
          last = rows[rows.length - 1]![table.key];
          if (rows.length < batchRows) break;
        }
      }

      await moveIdentitySequences(tx, highWater);

      const counts: TableCount[] = [];
      for (const table of plan) {
        const [row] = await tx.select({ n: count() }).from(table.target);
        counts.push({ table: table.name, source: sourceCounts.get(table.name)!, target: row!.n });
      }
      const differing = counts.filter((c) => c.source !== c.target);
      if (differing.length > 0) throw new CopyError(`row counts differ in ${differing.map((c) => c.table).join(', ')}`, counts);
      return counts;
    });
  } finally {
    if (source.$client.inTransaction) source.$client.exec('ROLLBACK');
  }
}

type PgTx = Parameters<Parameters<PgDb['transaction']>[0]>[0];

async function refuseTargetInUse(tx: PgTx, plan: readonly TablePlan[]): Promise<void> {
  const inUse: string[] = [];
  for (const table of plan) {
    if (table.target === pgSchema.dataMigrations) continue;
    const query = tx.select({ n: count() }).from(table.target);
    const [row] = await (table.target === pgSchema.lists ? query.where(ne(pgSchema.lists.slug, SEEDED_LIST_SLUG)) : query);
    if (row!.n > 0) inUse.push(`${table.name} (${row!.n})`);
  }
  if (inUse.length > 0) {
    throw new CopyError(
      `the PostgreSQL database already holds data: ${inUse.join(', ')}. db copy only fills a new database, so two installations ` +
        'are never merged and nothing there is overwritten: create an empty database and copy into it',
    );
  }
}

/**
 * Moves every identity sequence past the ids copied and past SQLite's high-water mark: an id
 * of a deleted row (an erased contact's subscription) must not be given again, since
 * unsubscribe links and opt-out records name subscriptions by id.
 */
async function moveIdentitySequences(tx: PgTx, highWater: ReadonlyMap<string, number>): Promise<void> {
  const { rows: identities } = await tx.execute<{ table: string; column: string }>(
    sql`select table_name as "table", column_name as "column" from information_schema.columns where table_schema = current_schema() and is_identity = 'YES'`,
  );
  for (const { table, column } of identities) {
    const { rows } = await tx.execute<{ max: string | null }>(
      sql`select max(${sql.identifier(column)}) as max from ${sql.identifier(table)}`,
    );
    const next = Math.max(Number(rows[0]?.max ?? 0), highWater.get(table) ?? 0) + 1;
    await tx.execute(sql`select setval(pg_get_serial_sequence(${`"${table}"`}, ${column}), ${next}, false)`);
  }
}
