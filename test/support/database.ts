import { sql } from 'drizzle-orm';
import type { Scope } from '../../src/platform/db/database.js';

/**
 * Runs one raw SQL statement in a transaction (`tx` from database.transaction), on either
 * engine: for what a test does to the database behind the service's back (a table taken away
 * and given back, a migration replayed). drizzle's SQLite handle has no execute(); it runs at once.
 */
export async function runStatement(tx: Scope, statement: string): Promise<void> {
  if (tx.dialect === 'postgresql') await tx.db.execute(sql.raw(statement));
  else (tx.db as unknown as { run(query: ReturnType<typeof sql.raw>): unknown }).run(sql.raw(statement));
}
