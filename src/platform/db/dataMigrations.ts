import { eq, sql } from 'drizzle-orm';
import type { Database, Scope } from './database.js';

export interface DataMigration {
  name: string;
  /** Runs inside the migration's transaction; returns a summary for the log. */
  run(tx: Scope, secrets: readonly string[], now: number): Promise<object>;
}

/**
 * Applies the data migrations not applied yet (the list is the features', in src/dataMigrations.ts), each in one transaction that also records it.
 * Several processes starting on one database run each exactly once: on SQLite BEGIN IMMEDIATE
 * makes them take turns; on PostgreSQL a transaction-scoped advisory lock on the migration's
 * name makes the second process wait for the first to commit, after which it finds the record.
 * Returns what ran now, for the log.
 */
export async function runDataMigrations(
  database: Database,
  secrets: readonly string[],
  migrations: readonly DataMigration[],
  now = Date.now(),
): Promise<{ name: string; summary: object }[]> {
  const ran: { name: string; summary: object }[] = [];
  for (const migration of migrations) {
    await database.transaction(async (tx) => {
      const { dataMigrations } = tx.tables;
      // The row does not exist before the first run, so there is nothing to lock: the advisory
      // lock is what keeps a second PostgreSQL process out until this transaction ends.
      if (tx.dialect === 'postgresql')
        await tx.db.execute(sql`select pg_advisory_xact_lock(hashtext(${`optin data migration ${migration.name}`}))`);
      const [done] = await tx.db.select().from(dataMigrations).where(eq(dataMigrations.name, migration.name)).limit(1);
      if (done) return;
      const summary = await migration.run(tx, secrets, now);
      await tx.db.insert(dataMigrations).values({ name: migration.name, appliedAt: now });
      ran.push({ name: migration.name, summary });
    });
  }
  return ran;
}
