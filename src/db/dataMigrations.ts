import { eq } from 'drizzle-orm';
import { migrateQuotedAddresses } from '../subscriptions/quotedAddresses.js';
import type { Db } from './client.js';
import { dataMigrations } from './schema.js';
import { writeTransaction } from './transaction.js';

interface DataMigration {
  name: string;
  /** Runs inside the migration's transaction; returns a summary for the log. */
  run(tx: Pick<Db, 'select' | 'insert' | 'update' | 'delete'>, secrets: readonly string[], now: number): object;
}

/** In order; a name, once recorded, never runs again. Add to the end only. */
const DATA_MIGRATIONS: readonly DataMigration[] = [{ name: '0001_quoted_local_parts', run: migrateQuotedAddresses }];

/**
 * Applies the data migrations not applied yet, each in one immediate transaction that also
 * records it, so several processes starting on one database run each exactly once.
 * Returns what ran now, for the log.
 */
export function applyDataMigrations(db: Db, secrets: readonly string[], now = Date.now()): { name: string; summary: object }[] {
  const ran: { name: string; summary: object }[] = [];
  for (const migration of DATA_MIGRATIONS) {
    writeTransaction(db, (tx) => {
      if (tx.select().from(dataMigrations).where(eq(dataMigrations.name, migration.name)).get()) return;
      const summary = migration.run(tx, secrets, now);
      tx.insert(dataMigrations).values({ name: migration.name, appliedAt: now }).run();
      ran.push({ name: migration.name, summary });
    });
  }
  return ran;
}
