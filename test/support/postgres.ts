import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/** The server tests and benches use: the machine's PostgreSQL, user postgres, trust auth. */
export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Whether this test run is the `postgres` vitest project (see vitest.config.ts). */
export const TEST_ON_POSTGRES = process.env.TEST_DATABASE === 'postgres';

export interface ScratchDatabase {
  name: string;
  url: string;
  /** Drops the database, closing whatever connections are still open on it. */
  drop(): Promise<void>;
}

async function asAdmin<T = void>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function urlOf(name: string): string {
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

const dropDatabase = (name: string) =>
  asAdmin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)));

/** A new, empty database with a unique name (a test file or a bench run each get their own). */
export async function createScratchDatabase(prefix: string): Promise<ScratchDatabase> {
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await asAdmin(async (client) => void (await client.query(`CREATE DATABASE "${name}"`)));
  return { name, url: urlOf(name), drop: () => dropDatabase(name) };
}

const FOLDER_DATABASE_PREFIX = 'optin_test_';

/**
 * The database of a service's data folder, in the `postgres` project: one per folder, named
 * from its absolute path, so a service restarted on the same folder (or a worker started
 * beside an API) finds the database the first one used, as it would find the SQLite file.
 * The machine and the folder are written in the database's comment: a database whose folder
 * is gone from this machine is left over (see dropLeftoverFolderDatabases).
 */
export function folderDatabaseName(dataDir: string): string {
  return FOLDER_DATABASE_PREFIX + createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 24);
}

interface FolderOwner {
  host: string;
  folder: string;
}

function ownerOf(comment: string | null): FolderOwner | undefined {
  try {
    const owner = JSON.parse(comment ?? '') as Partial<FolderOwner>;
    return typeof owner.host === 'string' && typeof owner.folder === 'string' ? (owner as FolderOwner) : undefined;
  } catch {
    return undefined;
  }
}

// 42P04 duplicate_database; 23505 when two CREATE DATABASE of one name race in the catalog.
const ALREADY_THERE = new Set(['42P04', '23505']);

/** The URL of the data folder's database, created (empty: the service migrates it) when absent. */
export async function folderDatabase(dataDir: string): Promise<string> {
  const name = folderDatabaseName(dataDir);
  await asAdmin(async (client) => {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } catch (error) {
        if (!ALREADY_THERE.has((error as { code?: string }).code ?? '')) throw error;
      }
    }
    const owner: FolderOwner = { host: hostname(), folder: path.resolve(dataDir) };
    await client.query(`COMMENT ON DATABASE "${name}" IS ${client.escapeLiteral(JSON.stringify(owner))}`);
  });
  return urlOf(name);
}

export function dropFolderDatabase(dataDir: string): Promise<void> {
  return dropDatabase(folderDatabaseName(dataDir));
}

/**
 * Drops the folder databases whose data folder no longer exists: those of tests that removed
 * their own folder, of processes a test spawned, or of a run that was killed. A database in
 * use always has its folder (a service's folder is removed only after its database is dropped,
 * or after the test stopped it), so runs going on beside this one keep theirs. Only this
 * machine's folders are looked at: another machine (or container) on the same server may have
 * folders this one cannot see.
 */
export async function dropLeftoverFolderDatabases(): Promise<string[]> {
  return asAdmin(async (client) => {
    const { rows } = await client.query<{ name: string; comment: string | null }>(
      `select datname as name, shobj_description(oid, 'pg_database') as comment from pg_database where starts_with(datname, $1)`,
      [FOLDER_DATABASE_PREFIX],
    );
    const leftover = rows
      .filter((row) => {
        const owner = ownerOf(row.comment);
        return owner !== undefined && owner.host === hostname() && !existsSync(owner.folder);
      })
      .map((row) => row.name);
    for (const name of leftover) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    return leftover;
  });
}

/** Fails at once, with what to do, when the `postgres` project cannot reach its server. */
export async function assertPostgresReachable(): Promise<void> {
  try {
    await asAdmin(async (client) => void (await client.query('select 1')));
  } catch (error) {
    throw new Error(
      `the postgres test project needs PostgreSQL at ${new URL(POSTGRES_ADMIN_URL).host} (user postgres, trust auth; ` +
        `TEST_POSTGRES_URL to use another; .ci/run starts one): ${(error as Error).message}`,
    );
  }
}
