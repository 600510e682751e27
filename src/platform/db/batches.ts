import type { Database, Scope } from './database.js';

/**
 * Work too big for one transaction (the sweep's pruning), done as a run of short ones: `batch`
 * handles at most `batchSize` rows in its transaction and says how many; the run ends with the
 * first batch that found fewer. Returns the rows handled in each transaction that handled any.
 */
export async function inBatches(database: Database, batchSize: number, batch: (tx: Scope) => Promise<number>): Promise<number[]> {
  const counts: number[] = [];
  for (;;) {
    const handled = await database.transaction(batch);
    if (handled > 0) counts.push(handled);
    if (handled < batchSize) return counts;
  }
}
