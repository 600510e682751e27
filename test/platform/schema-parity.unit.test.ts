import { isDeepStrictEqual } from 'node:util';
import { getTableName, is, sql, type SQL } from 'drizzle-orm';
import {
  PgDialect,
  PgTable,
  bigint,
  getTableConfig as pgTableConfig,
  index as pgIndex,
  pgTable,
  text as pgText,
  uniqueIndex as pgUniqueIndex,
} from 'drizzle-orm/pg-core';
import { SQLiteSyncDialect, SQLiteTable, getTableConfig as sqliteTableConfig } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import * as pgSchema from '../../src/platform/db/schema.pg.js';
import * as sqliteSchema from '../../src/platform/db/schema.js';

/**
 * The two schemas, reduced to what must agree between SQLite and PostgreSQL: what the domain
 * code reads and writes (column names, JS types, storage family, nullability, defaults, allowed
 * values) and what the database enforces (keys, unique and partial indexes, foreign keys).
 * Differences that are the dialect's own (bigint vs INTEGER, identity vs AUTOINCREMENT, a UNIQUE
 * constraint vs a unique index) map to one form.
 */
interface Column {
  storage: 'integer' | 'text' | string;
  js: string;
  notNull: boolean;
  primaryKey: boolean;
  generatedKey: boolean;
  default: unknown;
  enumValues: readonly string[] | null;
}
interface Index {
  unique: boolean;
  columns: string[];
  where: string | null;
}
interface ForeignKey {
  columns: string[];
  references: string;
  onDelete: string;
  onUpdate: string;
}
interface Table {
  columns: Record<string, Column>;
  indexes: Record<string, Index>;
  foreignKeys: ForeignKey[];
}

type AnyConfig = ReturnType<typeof sqliteTableConfig> | ReturnType<typeof pgTableConfig>;

const STORAGE: Record<string, Column['storage']> = { integer: 'integer', bigint: 'integer', smallint: 'integer', text: 'text' };

function normalizeTable(config: AnyConfig, renderWhere: (where: SQL) => string): Table {
  const columns: Record<string, Column> = {};
  const indexes: Record<string, Index> = {};
  for (const column of config.columns) {
    const sqlType = column.getSQLType().toLowerCase();
    const generatedKey = ('autoIncrement' in column && column.autoIncrement === true) || column.generatedIdentity !== undefined;
    columns[column.name] = {
      // A flag is INTEGER 0/1 on SQLite and BOOLEAN on PostgreSQL; both read as a JS boolean.
      storage: column.dataType === 'boolean' ? 'boolean' : (STORAGE[sqlType] ?? sqlType),
      js: column.dataType,
      notNull: column.notNull,
      primaryKey: column.primary,
      generatedKey,
      default: column.default ?? null,
      enumValues: column.enumValues ?? null,
    };
    // A column's .unique() is a UNIQUE constraint on PostgreSQL and a unique index on SQLite.
    if (column.isUnique) indexes[column.uniqueName!] = { unique: true, columns: [column.name], where: null };
  }
  for (const unique of config.uniqueConstraints) {
    indexes[unique.getName()!] = { unique: true, columns: unique.columns.map((c) => c.name), where: null };
  }
  for (const index of config.indexes) {
    indexes[index.config.name!] = {
      unique: index.config.unique,
      columns: index.config.columns.map((c) => ('name' in c ? String(c.name) : String(c))),
      where: index.config.where ? renderWhere(index.config.where).replace(/\s+/g, ' ').trim().toLowerCase() : null,
    };
  }
  const foreignKeys = config.foreignKeys
    .map((fk) => {
      const ref = fk.reference();
      return {
        columns: ref.columns.map((c) => c.name),
        references: `${getTableName(ref.foreignTable)}(${ref.foreignColumns.map((c) => c.name).join(',')})`,
        onDelete: fk.onDelete ?? 'no action',
        onUpdate: fk.onUpdate ?? 'no action',
      };
    })
    .sort((a, b) => a.columns.join().localeCompare(b.columns.join()));
  return { columns, indexes, foreignKeys };
}

const sqliteDialect = new SQLiteSyncDialect();
const pgDialect = new PgDialect();
const normalizeSqlite = (table: SQLiteTable) => normalizeTable(sqliteTableConfig(table), (where) => sqliteDialect.sqlToQuery(where).sql);
const normalizePg = (table: PgTable) => normalizeTable(pgTableConfig(table), (where) => pgDialect.sqlToQuery(where).sql);

/** Every table a schema module exports, by its SQL name. */
function tablesOf<T>(
  module: Record<string, unknown>,
  isTable: (value: unknown) => value is T,
  normalize: (table: T) => Table,
  nameOf: (table: T) => string,
) {
  const tables: Record<string, Table> = {};
  for (const value of Object.values(module)) if (isTable(value)) tables[nameOf(value)] = normalize(value);
  return tables;
}
const sqliteTables = () =>
  tablesOf(
    sqliteSchema,
    (v): v is SQLiteTable => is(v, SQLiteTable),
    normalizeSqlite,
    (t) => sqliteTableConfig(t).name,
  );
const pgTables = () =>
  tablesOf(
    pgSchema,
    (v): v is PgTable => is(v, PgTable),
    normalizePg,
    (t) => pgTableConfig(t).name,
  );

/** The exported names of each module that are tables, keyed the same in both. */
const exportedTables = (module: Record<string, unknown>, isTable: (value: unknown) => boolean) =>
  Object.entries(module)
    .filter(([, v]) => isTable(v))
    .map(([k]) => k)
    .sort();

describe('SQLite and PostgreSQL schemas', () => {
  it('define the same tables, columns, indexes and foreign keys', () => {
    const sqlite = sqliteTables();
    expect(Object.keys(sqlite).length).toBeGreaterThanOrEqual(7);
    expect(pgTables()).toEqual(sqlite);
  });

  it('export the tables and the value lists under the same names', () => {
    expect(exportedTables(pgSchema, (v) => is(v, PgTable))).toEqual(exportedTables(sqliteSchema, (v) => is(v, SQLiteTable)));
    const values = (module: Record<string, unknown>) => Object.fromEntries(Object.entries(module).filter(([, v]) => Array.isArray(v)));
    expect(values(pgSchema)).toEqual(values(sqliteSchema));
  });

  it('sees a drift in type, nullability, uniqueness or a partial index condition', () => {
    const original = normalizePg(pgSchema.suppressions);
    // suppressions as schema.pg.ts has it, with four deliberate mistakes.
    const drifted = pgTable(
      'suppressions',
      {
        id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
        emailHash: pgText('email_hash').notNull(),
        email: pgText('email'),
        domain: pgText('domain'),
        listId: bigint('list_id', { mode: 'number' }).references(() => pgSchema.lists.id),
        reason: pgText('reason', { enum: pgSchema.SUPPRESSION_REASONS }).notNull(),
        source: pgText('source'), // nullable
        createdAt: pgText('created_at').notNull(), // text
      },
      (t) => [
        pgUniqueIndex('suppressions_hash_all_lists')
          .on(t.emailHash)
          .where(sql`list_id is not null`), // condition
        pgIndex('suppressions_hash_list')
          .on(t.emailHash, t.listId)
          .where(sql`list_id is not null`), // not unique
        pgIndex('suppressions_created').on(t.createdAt, t.id),
        pgIndex('suppressions_email').on(t.email),
        pgIndex('suppressions_domain').on(t.domain, t.createdAt, t.id),
      ],
    );
    const normalized = normalizePg(drifted);
    expect(normalized).not.toEqual(original);
    expect({ ...normalized, columns: {}, indexes: {} }).toEqual({ ...original, columns: {}, indexes: {} });
    expect(Object.keys(normalized.columns).filter((c) => !isDeepStrictEqual(normalized.columns[c], original.columns[c]))).toEqual([
      'source',
      'created_at',
    ]);
    expect(Object.keys(normalized.indexes).filter((i) => !isDeepStrictEqual(normalized.indexes[i], original.indexes[i]))).toEqual([
      'suppressions_hash_all_lists',
      'suppressions_hash_list',
    ]);
  });
});
