import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SqliteConnection from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { journal, MigrationsBehindError } from './postgres.js';
import * as schema from './schema.js';

/**
 * The raw SQLite connection behind a Database (src/db/database.ts). Domain code never holds one:
 * it gets a Scope or a Database. Only database.ts, and tools that read a file as it is (db copy), use it.
 */
export type SqliteDb = BetterSQLite3Database<typeof schema> & { $client: SqliteConnection.Database };

/** migrations/sqlite/ sits at the project root, three levels above both src/platform/db and dist/platform/db. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../migrations/sqlite', import.meta.url));

/** Where drizzle's SQLite migrator records what it applied (its default). */
const MIGRATIONS_TABLE = '__drizzle_migrations';

/**
 * migrations/sqlite's migrations the file has not had, oldest first. drizzle's rule: a migration
 * counts as applied when the newest recorded one is at least as recent (created_at = its folderMillis).
 */
export function sqlitePendingMigrations(db: SqliteDb, folder = MIGRATIONS_FOLDER): string[] {
  const table = db.$client.prepare("select 1 from sqlite_master where type = 'table' and name = ?").get(MIGRATIONS_TABLE);
  const newest = table
    ? Number(
        (db.$client.prepare(`select max(created_at) as newest from ${MIGRATIONS_TABLE}`).get() as { newest: unknown }).newest ?? -Infinity,
      )
    : -Infinity;
  return journal(folder)
    .filter((entry) => entry.when > newest)
    .map((entry) => entry.tag);
}

/**
 * Opens the database file and returns a drizzle handle, applying pending migrations unless told
 * not to (MIGRATE_ON_START=false), in which case a file that is behind is refused.
 * WAL lets readers run beside the single writer; the busy timeout makes a second
 * process (API and worker apart) wait for the lock instead of failing at once.
 */
export function openDatabase(databasePath: string, options: { migrate?: boolean; busyTimeoutMs?: number } = {}): SqliteDb {
  const migrateNow = options.migrate ?? true;
  if (!migrateNow && databasePath !== ':memory:' && !existsSync(databasePath)) {
    // Not even created yet: say so rather than leave an empty file behind.
    throw new MigrationsBehindError(
      `${path.resolve(databasePath)} (no such file)`,
      journal(MIGRATIONS_FOLDER).map((entry) => entry.tag),
    );
  }
  if (databasePath !== ':memory:') mkdirSync(path.dirname(path.resolve(databasePath)), { recursive: true });
  const sqlite = new SqliteConnection(databasePath);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  const db = drizzle(sqlite, { schema });
  if (migrateNow) {
    migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  } else {
    const pending = sqlitePendingMigrations(db);
    if (pending.length > 0) {
      sqlite.close();
      throw new MigrationsBehindError(path.resolve(databasePath), pending);
    }
  }
  return db;
}

export function closeDatabase(db: SqliteDb): void {
  if (db.$client.open) db.$client.close();
}
