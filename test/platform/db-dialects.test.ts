import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eachInSavepoint,
  forUpdate,
  isUniqueViolation,
  openSqliteDatabase,
  postgresDatabase,
  savepoint,
  type Database,
  type Row,
  type Scope,
} from '../../src/platform/db/database.js';
import { closePostgres, migratePostgres, openPostgres } from '../../src/platform/db/postgres.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.js';

// ---- domain code, written once: nothing below knows which engine it runs on ------------------

type List = Row<'lists'>;

/** A module's statements in one place, built from the database (its tables), run on a scope. */
function createListQueries({ tables: { lists, outbox } }: Scope) {
  return {
    insert: (tx: Scope, slug: string, name: string) => tx.db.insert(lists).values({ slug, name, createdAt: Date.now() }).returning(),
    bySlug: async (scope: Scope, slug: string): Promise<List | undefined> =>
      (await scope.db.select().from(lists).where(eq(lists.slug, slug)))[0],
    bySlugs: (scope: Scope, slugs: string[]) => scope.db.select().from(lists).where(inArray(lists.slug, slugs)).orderBy(lists.slug),
    insertMessage: (tx: Scope, id: string) =>
      tx.db.insert(outbox).values({ id, kind: 'confirmation', status: 'queued', createdAt: Date.now() }),
    message: (scope: Scope, id: string) => scope.db.select({ attempts: outbox.attempts }).from(outbox).where(eq(outbox.id, id)),
    setAttempts: (tx: Scope, id: string, attempts: number) => tx.db.update(outbox).set({ attempts }).where(eq(outbox.id, id)),
  };
}

/** Writes a list and reads it back in one transaction: the proof of concept. */
async function createList(database: Database, slug: string, name: string): Promise<List> {
  const queries = createListQueries(database);
  return database.transaction(async (tx) => {
    const [created] = await queries.insert(tx, slug, name);
    const read = await queries.bySlug(tx, slug);
    if (!created || !read || read.id !== created.id) throw new Error('the list just written was not read back');
    return read;
  });
}

/** Read, think, write: safe with several processes only because the row is locked first. */
async function countAttempt(database: Database, messageId: string): Promise<void> {
  const queries = createListQueries(database);
  await database.transaction(async (tx) => {
    const [row] = await forUpdate(tx, queries.message(tx, messageId));
    await sleep(1); // another caller gets every chance to slip in between the read and the write
    await queries.setAttempts(tx, messageId, row!.attempts + 1);
  });
}

// ---- the same tests on both engines ----------------------------------------------------------

interface Backend {
  name: string;
  /** A fresh, migrated database for this file. */
  setUp(): Promise<void>;
  /** Another handle on that database (as another process would open it). */
  open(): Promise<Database>;
  cleanUp(): Promise<void>;
}

const workDir = mkdtempSync(path.join(tmpdir(), 'optin-db-dialects-'));
const sqliteFile = path.join(workDir, 'optin.db');
let scratch: ScratchDatabase | undefined;
const backends: Backend[] = [
  {
    name: 'SQLite',
    setUp: async () => {},
    open: async () => openSqliteDatabase(sqliteFile),
    cleanUp: async () => rmSync(workDir, { recursive: true, force: true }),
  },
  {
    name: 'PostgreSQL',
    setUp: async () => {
      scratch = await createScratchDatabase('optin_test_db_dialects');
      const db = await openPostgres(scratch.url, { poolMax: 1 });
      await migratePostgres(db);
      await closePostgres(db);
    },
    open: async () => postgresDatabase(await openPostgres(scratch!.url, { poolMax: 5 })),
    cleanUp: async () => scratch?.drop(),
  },
];

describe.each(backends)('one domain code on $name', (backend) => {
  let database: Database;
  beforeAll(async () => {
    await backend.setUp();
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
    await backend.cleanUp();
  });

  it('inserts a list and reads it back with the same types', async () => {
    const list = await createList(database, 'weekly', 'Weekly news');
    expect(list).toMatchObject({
      id: expect.any(Number),
      slug: 'weekly',
      name: 'Weekly news',
      thankYouUrl: null,
      public: false,
      archivedAt: null,
      createdAt: expect.any(Number),
    });
    expect(list.createdAt).toBeGreaterThan(Date.now() - 60_000);
    const seen = await createListQueries(database).bySlugs(database, ['default', 'weekly']);
    expect(seen.map((l) => l.slug)).toEqual(['default', 'weekly']);
  });

  it('rolls the whole transaction back when it throws', async () => {
    const queries = createListQueries(database);
    await expect(
      database.transaction(async (tx) => {
        await queries.insert(tx, 'half-written', 'Half written');
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await queries.bySlug(database, 'half-written')).toBeUndefined();
  });

  it('rolls a savepoint back alone, keeping what the transaction wrote around it', async () => {
    const queries = createListQueries(database);
    await database.transaction(async (tx) => {
      await queries.insert(tx, 'before-savepoint', 'Before');
      await expect(
        savepoint(tx, async (sp) => {
          await queries.insert(sp, 'in-savepoint', 'In the savepoint');
          await queries.insert(sp, 'before-savepoint', 'A unique violation');
        }),
      ).rejects.toSatisfy(isUniqueViolation);
      // On PostgreSQL the failed statement aborted the transaction; the savepoint's rollback revived it.
      await savepoint(tx, (sp) => queries.insert(sp, 'after-savepoint', 'After'));
    });
    const seen = await queries.bySlugs(database, ['after-savepoint', 'before-savepoint', 'in-savepoint']);
    expect(seen.map((l) => l.slug)).toEqual(['after-savepoint', 'before-savepoint']);
  });

  it('runs each item in a savepoint of its own: a failed one rolls back alone, between two that stay', async () => {
    const queries = createListQueries(database);
    const results = await database.transaction(async (tx) => {
      await queries.insert(tx, 'each-first', 'First');
      return eachInSavepoint(tx, ['each-second', 'each-first', 'each-third', 'each-first'], async (sp, slug) => {
        if (slug === 'each-first') await queries.insert(sp, 'each-half-written', 'Written before the violation');
        return (await queries.insert(sp, slug, slug))[0]!.slug;
      });
    });
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect(results.filter((r) => r.status === 'rejected').every((r) => isUniqueViolation(r.reason))).toBe(true);
    const seen = await queries.bySlugs(database, ['each-first', 'each-half-written', 'each-second', 'each-third']);
    expect(seen.map((l) => l.slug)).toEqual(['each-first', 'each-second', 'each-third']);
    await expect(eachInSavepoint(database, [1], async () => 'no')).rejects.toThrow('open transaction');
  });

  it('refuses a savepoint outside a transaction', async () => {
    await expect(savepoint(database, async () => 'no')).rejects.toThrow('open transaction');
  });

  it('reports a unique violation the same way', async () => {
    const error = await createList(database, 'weekly', 'Again').catch((e: unknown) => e);
    expect(isUniqueViolation(error)).toBe(true);
    expect(isUniqueViolation(new Error('something else'))).toBe(false);
  });

  it('never shows a reader what an open transaction has not committed', async () => {
    const queries = createListQueries(database);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const wrote = new Promise<void>((resolve) => (written = resolve));
    const transaction = database.transaction(async (tx) => {
      await queries.insert(tx, 'in-flight', 'In flight');
      written();
      await held;
    });
    await wrote;
    expect(await queries.bySlug(database, 'in-flight')).toBeUndefined();
    release();
    await transaction;
    expect(await queries.bySlug(database, 'in-flight')).toMatchObject({ slug: 'in-flight' });
  });

  it('loses no update when 20 callers read and write one row at once', async () => {
    const queries = createListQueries(database);
    await database.transaction((tx) => queries.insertMessage(tx, 'message-1'));
    await Promise.all(Array.from({ length: 20 }, () => countAttempt(database, 'message-1')));
    expect(await queries.message(database, 'message-1')).toEqual([{ attempts: 20 }]);
  });

  it('answers a ping, and no longer once closed', async () => {
    await database.ping();
    const other = await backend.open();
    await other.close();
    await expect(other.ping()).rejects.toThrow();
  });

  it('refuses a transaction inside a transaction', async () => {
    await expect(database.transaction(() => database.transaction(async () => 'inner'))).rejects.toThrow('pass the `tx` you were given');
  });
});

describe('SQLite root handle', () => {
  it('refuses writes outside a transaction, so the rule holds in the SQLite run', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'optin-db-dialects-ro-'));
    const database = openSqliteDatabase(path.join(dir, 'optin.db'));
    try {
      const queries = createListQueries(database);
      await expect(queries.insert(database, 'outside', 'Outside')).rejects.toThrow(/readonly/);
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
