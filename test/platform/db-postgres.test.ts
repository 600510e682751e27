import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../src/platform/db/client.js';
import {
  DatabaseUnreachableError,
  MigrationsBehindError,
  PG_MIGRATIONS_FOLDER,
  assertPostgresMigrated,
  closePostgres,
  migratePostgres,
  openPostgres,
  postgresMigrationStatus,
  type PgDb,
} from '../../src/platform/db/postgres.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.js';

/** What a migrated database holds, read from its own catalog, in one form for both engines. */
interface Catalog {
  tables: Record<string, Record<string, { type: string; notNull: boolean; primaryKey: boolean; default: string | null }>>;
  indexes: Record<string, { table: string; unique: boolean; columns: string[]; where: string | null }>;
  foreignKeys: string[];
  triggers: string[];
}

// A flag is BOOLEAN on PostgreSQL and INTEGER 0/1 on SQLite (which has no boolean): one family.
const typeFamily = (type: string) => (/int|^bool/i.test(type) ? 'integer' : /text|char/i.test(type) ? 'text' : type.toLowerCase());
const normalizeCondition = (where: string | null) =>
  where === null
    ? null
    : where
        .replace(/[()"`]/g, '')
        .replace(/\s+/g, ' ')
        .trim()
        .toLowerCase();
const normalizeAction = (action: string) => action.toLowerCase();

function sqliteCatalog(file: string): Catalog {
  const db = openDatabase(file);
  try {
    const client = db.$client;
    const catalog: Catalog = { tables: {}, indexes: {}, foreignKeys: [], triggers: [] };
    const tables = client
      .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> '__drizzle_migrations'")
      .pluck()
      .all() as string[];
    for (const table of tables) {
      const columns = client.prepare(`pragma table_info("${table}")`).all() as {
        name: string;
        type: string;
        notnull: number;
        dflt_value: string | null;
        pk: number;
      }[];
      catalog.tables[table] = Object.fromEntries(
        columns.map((c) => [
          c.name,
          { type: typeFamily(c.type), notNull: c.notnull === 1 || c.pk > 0, primaryKey: c.pk > 0, default: c.dflt_value },
        ]),
      );
      for (const index of client.prepare(`pragma index_list("${table}")`).all() as {
        name: string;
        unique: number;
        origin: string;
        partial: number;
      }[]) {
        if (index.origin === 'pk') continue;
        const columnsOf = (client.prepare(`pragma index_info("${index.name}")`).all() as { name: string }[]).map((c) => c.name);
        const definition = client.prepare('select sql from sqlite_master where name = ?').pluck().get(index.name) as string | null;
        const where = index.partial && definition ? definition.slice(definition.search(/\bwhere\b/i) + 5) : null;
        catalog.indexes[index.name] = { table, unique: index.unique === 1, columns: columnsOf, where: normalizeCondition(where) };
      }
      for (const fk of client.prepare(`pragma foreign_key_list("${table}")`).all() as {
        table: string;
        from: string;
        to: string;
        on_delete: string;
        on_update: string;
      }[]) {
        catalog.foreignKeys.push(
          `${table}.${fk.from} -> ${fk.table}.${fk.to} on delete ${normalizeAction(fk.on_delete)} on update ${normalizeAction(fk.on_update)}`,
        );
      }
    }
    catalog.triggers = client.prepare("select name from sqlite_master where type = 'trigger'").pluck().all() as string[];
    catalog.foreignKeys.sort();
    catalog.triggers.sort();
    return catalog;
  } finally {
    closeDatabase(db);
  }
}

const PG_ACTIONS: Record<string, string> = { a: 'no action', r: 'restrict', c: 'cascade', n: 'set null', d: 'set default' };

async function pgCatalog(db: PgDb): Promise<Catalog> {
  const q = async <Row>(text: string) => (await db.$client.query(text)).rows as Row[];
  const catalog: Catalog = { tables: {}, indexes: {}, foreignKeys: [], triggers: [] };
  const columns = await q<{ table: string; column: string; type: string; not_null: boolean; pk: boolean; default: string | null }>(`
    select c.table_name as table, c.column_name as column, c.data_type as type, c.is_nullable = 'NO' as not_null, c.column_default as default,
           exists (select 1 from pg_index ix where ix.indrelid = (quote_ident(c.table_name))::regclass and ix.indisprimary
                   and (select attnum from pg_attribute where attrelid = ix.indrelid and attname = c.column_name) = any (ix.indkey::int2[])) as pk
    from information_schema.columns c where c.table_schema = 'public'`);
  for (const c of columns) {
    (catalog.tables[c.table] ??= {})[c.column] = { type: typeFamily(c.type), notNull: c.not_null, primaryKey: c.pk, default: c.default };
  }
  const indexes = await q<{ table: string; name: string; unique: boolean; primary: boolean; columns: string[]; where: string | null }>(`
    select t.relname as table, i.relname as name, ix.indisunique as unique, ix.indisprimary as primary,
           array(select a.attname from unnest(ix.indkey::int2[]) with ordinality k(attnum, ord)
                 join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum order by k.ord)::text[] as columns,
           pg_get_expr(ix.indpred, ix.indrelid) as where
    from pg_index ix join pg_class i on i.oid = ix.indexrelid join pg_class t on t.oid = ix.indrelid
    where t.relnamespace = 'public'::regnamespace`);
  for (const index of indexes) {
    if (index.primary) continue;
    catalog.indexes[index.name] = {
      table: index.table,
      unique: index.unique,
      columns: index.columns,
      where: normalizeCondition(index.where),
    };
  }
  const foreignKeys = await q<{
    table: string;
    column: string;
    references: string;
    ref_column: string;
    on_delete: string;
    on_update: string;
  }>(`
    select cl.relname as table, a.attname as column, rf.relname as references, af.attname as ref_column,
           c.confdeltype as on_delete, c.confupdtype as on_update
    from pg_constraint c
    join pg_class cl on cl.oid = c.conrelid join pg_class rf on rf.oid = c.confrelid
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    join pg_attribute af on af.attrelid = c.confrelid and af.attnum = c.confkey[1]
    where c.contype = 'f' and cl.relnamespace = 'public'::regnamespace`);
  catalog.foreignKeys = foreignKeys
    .map(
      (fk) =>
        `${fk.table}.${fk.column} -> ${fk.references}.${fk.ref_column} on delete ${PG_ACTIONS[fk.on_delete]} on update ${PG_ACTIONS[fk.on_update]}`,
    )
    .sort();
  catalog.triggers = (await q<{ name: string }>('select tgname as name from pg_trigger where not tgisinternal')).map((t) => t.name).sort();
  return catalog;
}

/** Defaults differ in spelling (an identity has none, SQLite's AUTOINCREMENT key has none either). */
function withoutDefaultSpelling(catalog: Catalog): Catalog {
  const tables = Object.fromEntries(
    Object.entries(catalog.tables).map(([t, columns]) => [
      t,
      Object.fromEntries(
        Object.entries(columns).map(([c, col]) => [c, { ...col, default: col.default === null ? null : col.default.replace(/'/g, '') }]),
      ),
    ]),
  );
  return { ...catalog, tables };
}

/** A port where nothing listens: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A PostgreSQL server with TLS and a self-signed certificate, as managed services look to a client
 * without their CA: it answers the client's SSLRequest, ends TLS itself and passes the session on
 * to the local server (which has ssl off). Counts the TLS sessions it carried.
 */
async function startTlsFront(dir: string): Promise<{ port: number; tlsSessions: () => number; close(): Promise<void> }> {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  const credentials = { key: readFileSync(key), cert: readFileSync(cert) };
  let sessions = 0;
  const server: Server = createServer((client) => {
    client.once('data', (first) => {
      const isSslRequest = first.length === 8 && first.readInt32BE(4) === 80877103;
      if (!isSslRequest) return client.destroy();
      client.write('S');
      const secure = new TLSSocket(client, { isServer: true, ...credentials });
      const upstream = connect(5432, '127.0.0.1');
      secure.once('secure', () => sessions++);
      secure.pipe(upstream).pipe(secure);
      const end = () => {
        secure.destroy();
        upstream.destroy();
      };
      secure.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    tlsSessions: () => sessions,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('PostgreSQL database', () => {
  let scratch: ScratchDatabase;
  let db: PgDb;
  const workDir = mkdtempSync(path.join(tmpdir(), 'optin-db-postgres-'));

  beforeAll(async () => {
    scratch = await createScratchDatabase('optin_test_db_postgres');
    db = await openPostgres(scratch.url, { poolMax: 4 });
  });
  afterAll(async () => {
    if (db) await closePostgres(db);
    await scratch?.drop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('migrates a fresh database once, even when two processes start together', async () => {
    const journal = JSON.parse(readFileSync(path.join(PG_MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
      entries: { tag: string }[];
    };
    const every = journal.entries.map((entry) => entry.tag);
    expect(every.slice(0, 2)).toEqual(['0000_initial', '0001_consent_log_append_only']);
    expect(await postgresMigrationStatus(db)).toEqual({ pending: every, databaseIsAhead: false });
    await expect(assertPostgresMigrated(db)).rejects.toThrow(MigrationsBehindError);

    const other = await openPostgres(scratch.url, { poolMax: 2 });
    try {
      await Promise.all([migratePostgres(db), migratePostgres(other)]);
    } finally {
      await closePostgres(other);
    }
    await migratePostgres(db);

    const applied = await db.$client.query('select hash from drizzle.__drizzle_migrations');
    expect(applied.rowCount).toBe(every.length);
    expect(await postgresMigrationStatus(db)).toEqual({ pending: [], databaseIsAhead: false });
    await assertPostgresMigrated(db);
    const lists = await db.$client.query('select slug, name from lists');
    expect(lists.rows).toEqual([{ slug: 'default', name: 'Newsletter' }]);
  });

  it('holds the same tables, columns, indexes, foreign keys and triggers as a migrated SQLite database', async () => {
    const sqlite = withoutDefaultSpelling(sqliteCatalog(path.join(workDir, 'parity.db')));
    const postgres = withoutDefaultSpelling(await pgCatalog(db));
    expect(Object.keys(postgres.tables).sort()).toEqual(Object.keys(sqlite.tables).sort());
    expect(postgres).toEqual(sqlite);
  });

  it('keeps the consent log append-only: an update is refused, an erasure may delete', async () => {
    const q = (text: string, values: unknown[] = []) => db.$client.query(text, values);
    const contact = await q(
      "insert into contacts (email, email_key, locale, created_at) values ('a@example.com', 'a@example.com', 'en', 1) returning id",
    );
    const contactId = contact.rows[0].id as string;
    await q("insert into consent_events (contact_id, action, at) values ($1, 'signup', 1), ($1, 'confirmed', 2)", [contactId]);

    await expect(q("update consent_events set detail = 'rewritten'")).rejects.toThrow('consent_events is append-only');
    // The foreign key's "on delete set null" is an UPDATE too: erasure deletes the trail first, as on SQLite.
    await expect(q('delete from contacts where id = $1', [contactId])).rejects.toThrow('consent_events is append-only');
    expect((await q('select detail from consent_events where contact_id = $1', [contactId])).rows).toEqual([
      { detail: null },
      { detail: null },
    ]);

    await q('delete from consent_events where contact_id = $1', [contactId]);
    await q('delete from contacts where id = $1', [contactId]);
    expect((await q('select count(*)::int as n from contacts')).rows[0].n).toBe(0);
  });

  it('tells which migrations a database lacks, and when it is ahead of this build', async () => {
    const journalFile = path.join(PG_MIGRATIONS_FOLDER, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { when: number; tag: string }[] };

    const older = path.join(workDir, 'older');
    cpSync(PG_MIGRATIONS_FOLDER, older, { recursive: true });
    writeFileSync(path.join(older, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries: journal.entries.slice(0, 1) }));
    expect(await postgresMigrationStatus(db, older)).toEqual({ pending: [], databaseIsAhead: true });

    const newer = path.join(workDir, 'newer');
    cpSync(PG_MIGRATIONS_FOLDER, newer, { recursive: true });
    const next = { idx: journal.entries.length, version: '7', when: Date.now() + 60_000, tag: '0099_later_change', breakpoints: true };
    writeFileSync(path.join(newer, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries: [...journal.entries, next] }));
    writeFileSync(path.join(newer, '0099_later_change.sql'), 'select 1;');
    expect(await postgresMigrationStatus(db, newer)).toEqual({ pending: ['0099_later_change'], databaseIsAhead: false });
    await expect(assertPostgresMigrated(db, newer)).rejects.toThrow(
      `the database at 127.0.0.1:5432/${scratch.name} lacks 1 migration(s) (0099_later_change)`,
    );
  });

  it('says which server cannot be reached', async () => {
    const port = await closedPort();
    const attempt = openPostgres(`postgres://postgres@127.0.0.1:${port}/optin`, { connectTimeoutMs: 2_000 });
    await expect(attempt).rejects.toThrow(DatabaseUnreachableError);
    await expect(attempt).rejects.toThrow(`PostgreSQL at 127.0.0.1:${port}/optin cannot be reached`);
  });

  it('asks for TLS when the URL says sslmode=require', async () => {
    // The local server has ssl off: a client that asks for TLS is turned away, one that does not gets in.
    const { rows } = await db.$client.query<{ ssl: string }>('show ssl');
    expect(rows[0]?.ssl).toBe('off');
    await expect(openPostgres(`${scratch.url}?sslmode=require`)).rejects.toThrow(/cannot be reached: .*SSL/i);
    await closePostgres(await openPostgres(`${scratch.url}?sslmode=disable`));
  });

  it('reads sslmode as libpq does: require encrypts, verify-full also checks the certificate', async () => {
    const front = await startTlsFront(workDir);
    try {
      const url = `postgres://postgres@127.0.0.1:${front.port}/${scratch.name}`;
      const encrypted = await openPostgres(`${url}?sslmode=require`);
      try {
        const { rows } = await encrypted.$client.query<{ name: string }>('select current_database() as name');
        expect(rows[0]?.name).toBe(scratch.name);
        expect(front.tlsSessions()).toBeGreaterThanOrEqual(1);
      } finally {
        await closePostgres(encrypted);
      }
      await expect(openPostgres(`${url}?sslmode=verify-full`)).rejects.toThrow(/self[- ]signed certificate/);
    } finally {
      await front.close();
    }
  });

  it('applies the statement timeout and the pool size', async () => {
    const limited = await openPostgres(scratch.url, { poolMax: 2, statementTimeoutMs: 200 });
    try {
      await expect(limited.$client.query('select pg_sleep(2)')).rejects.toThrow(/statement timeout/);
      const backends = await Promise.all(
        Array.from({ length: 6 }, () => limited.$client.query<{ pid: number }>('select pg_backend_pid() as pid, pg_sleep(0.05)')),
      );
      expect(new Set(backends.map((r) => r.rows[0]!.pid)).size).toBe(2);
    } finally {
      await closePostgres(limited);
    }
  });
});
