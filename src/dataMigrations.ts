import { backfillDailyStats } from './features/dashboard/index.js';
import { migrateQuotedAddresses } from './features/policy/index.js';
import type { Database } from './platform/db/database.js';
import { runDataMigrations, type DataMigration } from './platform/db/dataMigrations.js';

/** In order; a name, once recorded, never runs again. Add to the end only. */
const DATA_MIGRATIONS: readonly DataMigration[] = [
  { name: '0001_quoted_local_parts', run: migrateQuotedAddresses },
  { name: '0002_daily_list_stats', run: (tx) => backfillDailyStats(tx) },
];

/** The data migrations this build has not applied yet, each once (see runDataMigrations). Returns what ran now, for the log. */
export function applyDataMigrations(
  database: Database,
  secrets: readonly string[],
  now = Date.now(),
): Promise<{ name: string; summary: object }[]> {
  return runDataMigrations(database, secrets, DATA_MIGRATIONS, now);
}
