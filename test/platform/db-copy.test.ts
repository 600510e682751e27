import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SqliteConnection from 'better-sqlite3';
import { eq } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase, MIGRATIONS_FOLDER, openDatabase } from '../../src/platform/db/client.js';
import { copyPlan, copySqliteToPostgres } from '../../src/platform/db/copy.js';
import { closePostgres, journal, openPostgres, PG_MIGRATIONS_FOLDER } from '../../src/platform/db/postgres.js';
import { canary } from '../support/canary.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { createScratchDatabase, TEST_ON_POSTGRES, type ScratchDatabase } from '../support/postgres.js';
import { freePort, runAdminCli } from '../support/processes.js';
import { ADMIN_AUTH, startTestService, TEST_SECRET, type TestService } from '../support/service.js';
import { startSmtpSink, type SmtpSink } from '../support/smtpSink.js';

/** The tables db copy carries, as the SQLite file names them (its own bookkeeping aside). */
// Every table of the schema: a table added later is counted (and so copied and checked) without a change here.
const TABLES = copyPlan().map((table) => table.name);

/** Row counts and AUTOINCREMENT high-water marks of a SQLite file, read as it is on disk. */
function sqliteFacts(file: string) {
  const connection = new SqliteConnection(file, { readonly: true });
  try {
    const counts = Object.fromEntries(
      TABLES.map((table) => [table, (connection.prepare(`select count(*) as n from "${table}"`).get() as { n: number }).n]),
    );
    const seq = Object.fromEntries(
      (connection.prepare('select name, seq from sqlite_sequence').all() as { name: string; seq: number }[]).map((row) => [
        row.name,
        row.seq,
      ]),
    );
    const maxIds = Object.fromEntries(
      ['contacts', 'subscriptions'].map((table) => [
        table,
        (connection.prepare(`select max(id) as id from "${table}"`).get() as { id: number }).id,
      ]),
    );
    return { counts, seq, maxIds };
  } finally {
    connection.close();
  }
}

/** Row counts of a PostgreSQL database, read beside any service. */
async function postgresCounts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const counts: Record<string, number> = {};
    for (const table of TABLES)
      counts[table] = Number((await client.query<{ n: string }>(`select count(*) as n from "${table}"`)).rows[0]!.n);
    return counts;
  } finally {
    await client.end();
  }
}

function copyCli(databasePath: string, to: string) {
  return runAdminCli(['db', 'copy', '--to', to], { DATABASE_PATH: databasePath, SECRET: TEST_SECRET });
}

/** Signs up through the service and confirms with the emailed link; returns the welcome email's unsubscribe link. */
async function confirmedSubscriber(t: TestService, email: string): Promise<string> {
  expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, `confirmation to ${email}`);
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  return linkIn(await waitFor(() => t.smtp.to(email)[1], 5000, `welcome to ${email}`), 'unsubscribe');
}

/** A link from an email (PUBLIC_URL), against a running test service. */
const local = (t: TestService, link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

// SQLite to PostgreSQL: it runs once, in the sqlite project (the source is the SQLite file a service wrote).
describe.skipIf(TEST_ON_POSTGRES)('npm run admin -- db copy', () => {
  const cleanUps: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const cleanUp of cleanUps.splice(0).reverse()) await cleanUp();
  });
  const scratch = async (prefix: string): Promise<ScratchDatabase> => {
    const database = await createScratchDatabase(prefix);
    cleanUps.push(() => database.drop());
    return database;
  };
  const folder = (): string => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'optin-copy-'));
    cleanUps.push(() => rmSync(dataDir, { recursive: true, force: true }));
    return dataDir;
  };

  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink?.close();
  });

  it(
    'copies a populated installation; on the copy, opt-outs and erasures hold, old links work, and the queued message is sent once',
    { timeout: 120_000 },
    async () => {
      const dataDir = folder();
      const databasePath = path.join(dataDir, 'optin.db');

      // On SQLite, API and worker: one confirmed subscriber, one who opted out with one click.
      const before = await startTestService({ dataDir, sink });
      const keptLink = await confirmedSubscriber(before, 'kept@example.com');
      const leftLink = await confirmedSubscriber(before, 'left@example.com');
      expect((await oneClick(local(before, leftLink))).status).toBe(200);
      await before.stop();

      // Then the API alone: a signup whose confirmation stays queued, and one erased (its queued mail dropped, only a hash kept).
      const apiOnly = await startTestService({ dataDir, sink, roles: ['api'] });
      expect((await postJson(`${apiOnly.url}/subscribe`, { email: 'queued@example.com' })).status).toBe(202);
      expect((await postJson(`${apiOnly.url}/subscribe`, { email: 'erased@example.com' })).status).toBe(202);
      expect(
        (await fetch(`${apiOnly.url}/admin/api/contacts/erased%40example.com`, { method: 'DELETE', headers: ADMIN_AUTH })).status,
      ).toBe(204);
      await apiOnly.stop();
      expect(sink.to('queued@example.com')).toEqual([]);

      const source = sqliteFacts(databasePath);
      expect(source.counts).toMatchObject({ contacts: 3, suppressions: 2, outbox: 5 });
      // The erased contact and subscription had the highest ids: ids the copy must never give again.
      expect(source.seq.contacts).toBeGreaterThan(source.maxIds.contacts!);
      expect(source.seq.subscriptions).toBeGreaterThan(source.maxIds.subscriptions!);

      const target = await scratch('db_copy');
      const copied = await copyCli(databasePath, target.url);
      expect(copied.stderr).toMatch(/copied \[#+\] 100% (\d+)\/\1 rows/);
      expect(copied.code).toBe(0);
      for (const table of TABLES)
        expect(copied.stdout).toMatch(new RegExp(`^${table} +${source.counts[table]} +${source.counts[table]}$`, 'm'));
      expect(copied.stdout).toContain("every table's row count matches");
      expect(await postgresCounts(target.url)).toEqual(source.counts);
      // The source is read, not changed.
      expect(sqliteFacts(databasePath)).toEqual(source);

      // The service on the copy (a new queue: nothing of the old Redis carries the message over).
      const after = await startTestService({ sink, env: { DATABASE_URL: target.url } });
      cleanUps.push(() => after.stop());
      expect(after.service.database.dialect).toBe('postgresql');

      const queuedMail = await waitFor(() => sink.to('queued@example.com')[0], 10_000, 'the queued confirmation');
      expect(queuedMail.parsed.subject).toBeTruthy();
      const { db, tables } = after.service.database;
      await waitFor(
        async () => (await db.select().from(tables.outbox).where(eq(tables.outbox.status, 'queued'))).length === 0,
        5000,
        'the outbox to drain',
      );

      // The opted-out address stays suppressed, the erased one stays blocked by its hash alone.
      for (const email of ['left@example.com', 'Erased@Example.com'])
        expect((await postJson(`${after.url}/subscribe`, { email })).status).toBe(202);
      // A new address is mailed, with ids past every id the SQLite file ever gave.
      expect((await postJson(`${after.url}/subscribe`, { email: 'new@example.com' })).status).toBe(202);
      await waitFor(() => sink.to('new@example.com')[0], 5000, 'the new confirmation');
      const [created] = await db
        .select({ contactId: tables.contacts.id, subscriptionId: tables.subscriptions.id })
        .from(tables.contacts)
        .innerJoin(tables.subscriptions, eq(tables.subscriptions.contactId, tables.contacts.id))
        .where(eq(tables.contacts.emailKey, 'new@example.com'));
      expect(created!.contactId).toBeGreaterThan(source.seq.contacts!);
      expect(created!.subscriptionId).toBeGreaterThan(source.seq.subscriptions!);

      // A link mailed from the SQLite installation still acts on the same subscription.
      expect((await oneClick(local(after, keptLink))).status).toBe(200);
      expect((await postJson(`${after.url}/subscribe`, { email: 'kept@example.com' })).status).toBe(202);

      await canary(after);
      expect(sink.to('queued@example.com')).toHaveLength(1);
      expect(sink.to('left@example.com')).toHaveLength(2);
      expect(sink.to('erased@example.com')).toEqual([]);
      expect(sink.to('kept@example.com')).toHaveLength(2);
      expect(
        await db.select({ email: tables.contacts.email }).from(tables.contacts).where(eq(tables.contacts.emailKey, 'erased@example.com')),
      ).toEqual([]);
    },
  );

  it(
    'refuses a table it does not know, writes nothing when PostgreSQL refuses a row, copies in batches, and refuses a target that holds data',
    { timeout: 120_000 },
    async () => {
      const dataDir = folder();
      const databasePath = path.join(dataDir, 'optin.db');
      const t = await startTestService({ dataDir, sink, roles: ['api'] });
      for (const email of ['one@example.com', 'two@example.com', 'three@example.com'])
        expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
      await t.stop();
      const onFile = (statement: string, ...values: unknown[]) => {
        const file = new SqliteConnection(databasePath);
        try {
          file.prepare(statement).run(...values);
        } finally {
          file.close();
        }
      };
      const target = await scratch('db_copy_refused');

      // A table a migration added but nobody told the copy about stops it, before any row is copied.
      onFile('create table stray_notes (id integer primary key, note text)');
      const stray = await copyCli(databasePath, target.url);
      expect(stray).toMatchObject({ code: 1, stderr: expect.stringMatching(/neither copies nor skips: stray_notes .*nothing was copied/) });
      onFile('drop table stray_notes');

      // SQLite keeps a NUL character in text; PostgreSQL refuses it. consent_events comes after contacts in the copy order.
      onFile("insert into consent_events (action, at, detail) values ('note', 1, ?)", 'bad\u0000byte');
      const refused = await copyCli(databasePath, target.url);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/error: consent_events: PostgreSQL refused a row .*0x00.*nothing was copied/);
      expect(await postgresCounts(target.url)).toMatchObject({ contacts: 0, subscriptions: 0, consent_events: 0, outbox: 0 });
      onFile("delete from consent_events where action = 'note'");

      // One row per batch: every keyset step is taken.
      const source = openDatabase(databasePath, { migrate: false });
      const pool = await openPostgres(target.url, { poolMax: 1 });
      const progress: number[] = [];
      try {
        const counts = await copySqliteToPostgres(source, pool, { batchRows: 1, onProgress: (done) => progress.push(done) });
        expect(counts.every((c) => c.source === c.target)).toBe(true);
      } finally {
        closeDatabase(source);
        await closePostgres(pool);
      }
      const copiedCounts = await postgresCounts(target.url);
      expect(copiedCounts).toEqual(sqliteFacts(databasePath).counts);
      expect(copiedCounts).toMatchObject({ contacts: 3, subscriptions: 3 });
      const total = Object.values(copiedCounts).reduce((sum, n) => sum + n, 0);
      expect(progress).toEqual(Array.from({ length: total + 1 }, (_, i) => i));

      const again = await copyCli(databasePath, target.url);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/already holds data: .*contacts \(3\)/);
      expect(await postgresCounts(target.url)).toEqual(copiedCounts);
    },
  );

  it('db migrate applies every pending migration once, on PostgreSQL and on SQLite, and says so', { timeout: 120_000 }, async () => {
    const target = await scratch('db_migrate');
    const env = { DATABASE_URL: target.url, SECRET: TEST_SECRET };
    const first = await runAdminCli(['db', 'migrate'], env);
    expect(first.code).toBe(0);
    for (const { tag } of journal(PG_MIGRATIONS_FOLDER)) expect(first.stdout).toContain(`applied ${tag}\n`);
    expect(first.stdout).toMatch(/applied data migration 0001_quoted_local_parts/);
    const second = await runAdminCli(['db', 'migrate'], env);
    expect(second).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^PostgreSQL at 127\.0\.0\.1:5432\/db_migrate_\w+: up to date, nothing applied\n$/),
    });

    const databasePath = path.join(folder(), 'optin.db');
    const sqliteFirst = await runAdminCli(['db', 'migrate'], { DATABASE_PATH: databasePath, SECRET: TEST_SECRET });
    expect(sqliteFirst.code).toBe(0);
    for (const { tag } of journal(MIGRATIONS_FOLDER)) expect(sqliteFirst.stdout).toContain(`applied ${tag}\n`);
    expect((await runAdminCli(['db', 'migrate'], { DATABASE_PATH: databasePath, SECRET: TEST_SECRET })).stdout).toMatch(
      /: up to date, nothing applied\n$/,
    );
  });

  it('db migrate stops with one line and status 1 when PostgreSQL cannot be reached', async () => {
    const port = await freePort();
    const failed = await runAdminCli(['db', 'migrate'], {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/optin`,
      SECRET: TEST_SECRET,
    });
    expect(failed).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: PostgreSQL at 127.0.0.1:${port}/optin cannot be reached: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
  });
});
