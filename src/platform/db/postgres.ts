import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as schema from './schema.pg.js';

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };

/** migrations/pg/ sits at the project root, three levels above both src/platform/db and dist/platform/db. */
export const PG_MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../migrations/pg', import.meta.url));

/** Where drizzle's pg migrator records what it applied (its defaults). */
const MIGRATIONS_TABLE = 'drizzle.__drizzle_migrations';

/** pg_advisory_lock key taken while migrating, so two processes starting together migrate once. */
const MIGRATION_LOCK_KEY = 0x6f7074696e; // "optin"

export interface PostgresOptions {
  /** Connections this process may open (DATABASE_POOL_MAX). */
  poolMax?: number;
  /** Server-side statement_timeout per connection, in ms; 0 = none. */
  statementTimeoutMs?: number;
  /** How long to wait for a connection before giving up, in ms. */
  connectTimeoutMs?: number;
  /** Errors of idle pooled connections (server restart, network cut); the next query reports its own. */
  onIdleError?: (error: Error) => void;
}

/** PostgreSQL did not answer at start: the message names the server so the operator knows where to look. */
export class DatabaseUnreachableError extends Error {
  constructor(
    readonly server: string,
    cause: unknown,
  ) {
    super(`PostgreSQL at ${server} cannot be reached: ${cause instanceof Error ? cause.message || String(cause) : String(cause)}`, {
      cause,
    });
    this.name = 'DatabaseUnreachableError';
  }
}

/** host:port/database of a URL, without the user or password, for messages and logs. */
export function describeServer(url: string): string {
  const parsed = new URL(url);
  const host = parsed.hostname || process.env.PGHOST || 'localhost';
  const port = parsed.port || process.env.PGPORT || '5432';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || parsed.username || 'postgres';
  return `${host}:${port}/${database}`;
}

/**
 * `sslmode` as libpq (and every managed PostgreSQL's documentation) means it: `require` encrypts
 * without checking the certificate, `verify-full` checks it. node-postgres on its own reads
 * `require` as `verify-full` and warns that this will change; uselibpqcompat asks for libpq's meaning.
 */
function withLibpqSslModes(url: string): string {
  const parsed = new URL(url);
  if (parsed.searchParams.has('sslmode') && !parsed.searchParams.has('uselibpqcompat')) parsed.searchParams.set('uselibpqcompat', 'true');
  return parsed.toString();
}

/**
 * Opens a pool on DATABASE_URL and checks that the server answers, so a wrong host or a server
 * that is down stops the process at start with a sentence naming host:port, not at the first request.
 * Migrations are a separate step (migratePostgres), run at start or by `admin db migrate`.
 */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<PgDb> {
  const server = describeServer(url);
  const pool = new pg.Pool({
    connectionString: withLibpqSslModes(url),
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    application_name: 'optin',
  });
  // Without a listener, an idle connection that the server drops would crash the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  try {
    await pool.query('select 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new DatabaseUnreachableError(server, error);
  }
  return drizzle(pool, { schema });
}

export async function closePostgres(db: PgDb): Promise<void> {
  if (!db.$client.ended) await db.$client.end();
}

/**
 * Applies migrations/pg. Several processes may start at once: an advisory lock makes the others
 * wait, after which they find nothing left to apply. drizzle applies them in one transaction.
 */
export async function migratePostgres(db: PgDb): Promise<void> {
  const client = await db.$client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await migrate(drizzle(client), { migrationsFolder: PG_MIGRATIONS_FOLDER });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}

export interface JournalEntry {
  tag: string;
  when: number;
}

/** A migrations folder's journal (drizzle-kit's meta/_journal.json), oldest first; the same shape for both dialects. */
export function journal(folder: string): JournalEntry[] {
  const file = path.join(folder, 'meta', '_journal.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { entries: JournalEntry[] }).entries;
}

export interface MigrationStatus {
  /** Migrations of this build the database has not had yet, oldest first. */
  pending: string[];
  /** The database was migrated by a newer build (its last migration is unknown here). */
  databaseIsAhead: boolean;
}

/**
 * Compares migrations/pg with what the database recorded. drizzle's rule: a migration counts as
 * applied when the newest recorded one is at least as recent (created_at = the journal's `when`).
 */
export async function postgresMigrationStatus(db: PgDb, folder = PG_MIGRATIONS_FOLDER): Promise<MigrationStatus> {
  const entries = journal(folder);
  const { rows: exists } = await db.$client.query<{ table: string | null }>('select to_regclass($1) as table', [MIGRATIONS_TABLE]);
  let newest = -Infinity;
  if (exists[0]?.table) {
    const { rows } = await db.$client.query<{ newest: string | null }>(`select max(created_at) as newest from ${MIGRATIONS_TABLE}`);
    if (rows[0]?.newest != null) newest = Number(rows[0].newest);
  }
  return {
    pending: entries.filter((e) => e.when > newest).map((e) => e.tag),
    databaseIsAhead: newest > Math.max(-Infinity, ...entries.map((e) => e.when)),
  };
}

/** The database (PostgreSQL, or a SQLite file) lacks migrations this build needs: starting would fail on the first missing column. */
export class MigrationsBehindError extends Error {
  constructor(
    readonly server: string,
    readonly pending: string[],
  ) {
    super(
      `the database at ${server} lacks ${pending.length} migration(s) (${pending.join(', ')}): run \`npm run admin -- db migrate\` first`,
    );
    this.name = 'MigrationsBehindError';
  }
}

/** For the start of a process: refuses to run a build whose migrations the database has not had. */
export async function assertPostgresMigrated(db: PgDb, folder = PG_MIGRATIONS_FOLDER): Promise<void> {
  const { pending } = await postgresMigrationStatus(db, folder);
  if (pending.length > 0) throw new MigrationsBehindError(describeServer(db.$client.options.connectionString ?? ''), pending);
}
