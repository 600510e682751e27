import { UsageError, type CommandGroup } from '../cli/command.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Config } from '../../config.js';
import { closeDatabase, openDatabase } from './client.js';
import { causeMessage, copySqliteToPostgres, CopyError, type TableCount } from './copy.js';
import { openSqliteDatabase, postgresDatabase, type Database } from './database.js';
import {
  closePostgres,
  describeServer,
  migratePostgres,
  MigrationsBehindError,
  openPostgres,
  postgresMigrationStatus,
  type PgDb,
} from './postgres.js';
import { progressBar } from '../cli/progress.js';

/**
 * Brings a SQLite file up to this build's schema (creating it when absent, as a start would) and
 * returns the migrations it applied. The file is first opened without migrating: when it is
 * behind, that refusal names exactly what migrating it will apply.
 */
function migrateSqliteFile(file: string): string[] {
  let pending: string[] = [];
  try {
    closeDatabase(openDatabase(file, { migrate: false }));
  } catch (error) {
    if (!(error instanceof MigrationsBehindError)) throw error;
    pending = error.pending;
    closeDatabase(openDatabase(file, { migrate: true }));
  }
  return pending;
}

/** Reports the data migrations a database has just had (they need the secrets, so they run as code). */
async function applyAndReportDataMigrations(
  database: Database,
  secrets: readonly string[],
  applyDataMigrations: ApplyDataMigrations,
): Promise<number> {
  const ran = await applyDataMigrations(database, secrets);
  for (const { name, summary } of ran) process.stdout.write(`applied data migration ${name}: ${JSON.stringify(summary)}\n`);
  return ran.length;
}

/** Applies the pending migrations of migrations/pg and says which; they run under an advisory lock (see migratePostgres). */
async function migratePostgresReporting(db: PgDb, out: NodeJS.WritableStream, prefix = ''): Promise<string[]> {
  const { pending, databaseIsAhead } = await postgresMigrationStatus(db);
  if (databaseIsAhead) process.stderr.write('warning: the database was migrated by a newer build than this one\n');
  await migratePostgres(db);
  for (const tag of pending) out.write(`${prefix}applied ${tag}\n`);
  return pending;
}

function sqliteError(file: string, error: unknown): Error {
  return error instanceof MigrationsBehindError
    ? error
    : new Error(`the SQLite database at ${path.resolve(file)} cannot be opened: ${(error as Error).message}`);
}

/** `db migrate`: the schema (then data) migrations of the configured database, as a deploy step of its own. */
async function dbMigrate(config: Config, applyDataMigrations: ApplyDataMigrations): Promise<void> {
  let where: string;
  let applied: number;
  if (config.databaseUrl !== undefined) {
    where = `PostgreSQL at ${describeServer(config.databaseUrl)}`;
    // No statement timeout: building an index on a large table may take longer than a request should.
    const db = await openPostgres(config.databaseUrl, { poolMax: 2, statementTimeoutMs: 0 });
    const database = postgresDatabase(db);
    try {
      applied = (await migratePostgresReporting(db, process.stdout)).length;
      applied += await applyAndReportDataMigrations(database, config.secrets, applyDataMigrations);
    } finally {
      await database.close();
    }
  } else {
    where = `SQLite at ${path.resolve(config.databasePath)}`;
    let schema: string[];
    try {
      schema = migrateSqliteFile(config.databasePath);
    } catch (error) {
      throw sqliteError(config.databasePath, error);
    }
    for (const tag of schema) process.stdout.write(`applied ${tag}\n`);
    const database = openSqliteDatabase(config.databasePath);
    try {
      applied = schema.length + (await applyAndReportDataMigrations(database, config.secrets, applyDataMigrations));
    } finally {
      await database.close();
    }
  }
  process.stdout.write(applied > 0 ? `${where}: ${applied} migration(s) applied\n` : `${where}: up to date, nothing applied\n`);
}

function printCounts(counts: readonly TableCount[]): void {
  const width = Math.max(5, ...counts.map((c) => c.table.length));
  const lines = [`${'table'.padEnd(width)}  ${'sqlite'.padStart(10)}  ${'postgresql'.padStart(10)}`];
  for (const c of counts)
    lines.push(
      `${c.table.padEnd(width)}  ${String(c.source).padStart(10)}  ${String(c.target).padStart(10)}${c.source === c.target ? '' : '  MISMATCH'}`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * `db copy --to URL`: the SQLite installation at DATABASE_PATH into a new PostgreSQL database
 * (see src/db/copy.ts). Stop the service first: the copy reads one snapshot of the file, and
 * what is written after it stays behind.
 */
async function dbCopy(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { to: { type: 'string' } } });
  if (!values.to) throw new UsageError('say where to copy to: --to postgres://user:pass@host:5432/database');
  let protocol: string;
  try {
    protocol = new URL(values.to).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:')
    throw new UsageError('--to: a PostgreSQL URL, postgres://user:pass@host:5432/database');
  const file = config.databasePath;
  if (file === ':memory:' || !existsSync(file))
    throw new Error(`there is no SQLite database at ${path.resolve(file)} (DATABASE_PATH): nothing to copy`);

  let source: ReturnType<typeof openDatabase>;
  try {
    // Read with this build's schema: the file gets the migrations any start of this build would give it.
    for (const tag of migrateSqliteFile(file)) process.stderr.write(`source ${path.resolve(file)}: applied ${tag}\n`);
    source = openDatabase(file, { migrate: false });
  } catch (error) {
    throw sqliteError(file, error);
  }
  const server = describeServer(values.to);
  let target: PgDb | undefined;
  let bar: ReturnType<typeof progressBar> | undefined;
  let copied = 0;
  try {
    target = await openPostgres(values.to, { poolMax: 1, statementTimeoutMs: config.databaseStatementTimeoutMs });
    await migratePostgresReporting(target, process.stderr, `target ${server}: `);
    const counts = await copySqliteToPostgres(source, target, {
      onProgress(done, total) {
        bar ??= progressBar('copied', total);
        bar.update((copied = done));
      },
    });
    bar?.finish(copied, ' rows');
    bar = undefined;
    printCounts(counts);
    process.stdout.write(`copied ${path.resolve(file)} to PostgreSQL at ${server}: every table's row count matches\n`);
    return 0;
  } catch (error) {
    if (copied > 0) bar?.finish(copied, ' rows');
    if (error instanceof CopyError && error.counts.length > 0) printCounts(error.counts);
    // The copy is one transaction: whatever stopped it, PostgreSQL rolled back what it had written.
    process.stderr.write(`error: ${causeMessage(error)}; nothing was copied to ${server}\n`);
    return 1;
  } finally {
    closeDatabase(source);
    if (target) await closePostgres(target);
  }
}

async function dbCommand(
  config: Config,
  command: string | undefined,
  args: string[],
  applyDataMigrations: ApplyDataMigrations,
): Promise<number> {
  switch (command) {
    case 'migrate':
      parseArgs({ args, options: {} });
      await dbMigrate(config, applyDataMigrations);
      return 0;
    case 'copy':
      return dbCopy(config, args);
    default:
      throw new UsageError(`unknown db command "${command ?? ''}"`);
  }
}

/** The data migrations this build knows (src/dataMigrations.ts): they are the features', so they are passed in. */
export type ApplyDataMigrations = (database: Database, secrets: readonly string[]) => Promise<{ name: string; summary: object }[]>;

/** `npm run admin -- db migrate|copy …`: before the database is opened, since migrating it is what these do. */
export function dbCommands(applyDataMigrations: ApplyDataMigrations): CommandGroup {
  return {
    name: 'db',
    usage: `  db migrate                                       (DATABASE_URL, else DATABASE_PATH)
  db copy --to postgres://user:pass@host:5432/db   (DATABASE_PATH's data into a new database)`,
    needs: 'config',
    run: (command, args, { config }) => dbCommand(config, command, args, applyDataMigrations),
  };
}
