/**
 * Measures the admin suppression listing at a million rows: `npx tsx bench/suppressions.ts [rows]`.
 * Prints the query plans (each must be an index search, never a scan of the table) and timings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase, closeDatabase, type SqliteDb } from '../src/platform/db/client.js';
import { openSqliteDatabase } from '../src/platform/db/database.js';
import { addressHashes } from '../src/features/policy/suppressions.js';
import { listSuppressions, type SuppressionQuery } from '../src/features/suppression/service.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const secrets = ['bench-secret-0123456789abcdef'];
const dir = mkdtempSync(path.join(tmpdir(), 'optin-bench-'));
const file = path.join(dir, 'bench.db');
// Filled through a raw connection of its own (a million rows in one statement loop), then opened as the service opens it.
const filler = openDatabase(file);
const reasons = ['unsubscribed', 'bounced', 'complained', 'manual', 'erased'];

const started = performance.now();
const insert = filler.$client.prepare(
  'insert into suppressions (email_hash, email, domain, list_id, reason, source, created_at) values (?, ?, ?, ?, ?, ?, ?)',
);
filler.$client.transaction(() => {
  for (let i = 0; i < rows; i++) {
    // A third at one big domain, the rest spread over 5000; reasons skewed like real lists.
    const domain = i % 3 === 0 ? 'gmail.com' : `d${i % 5000}.example`;
    // Local parts scrambled so that, as in real lists, a prefix says nothing about when an entry came.
    const email = `${i === 1 ? 'user1' : ((i * 2654435761) % 2 ** 32).toString(36)}@${i === 1 ? 'd1.example' : domain}`;
    const reason = reasons[i % 100 === 0 ? 2 + (i % 3) : i % 2]!;
    insert.run(addressHashes(secrets, email)[0], email, domain, i % 4 === 0 ? 1 : null, reason, 'bench', 1_600_000_000_000 + i * 10);
  }
})();
console.log(`inserted ${rows} rows in ${Math.round(performance.now() - started)} ms`);
closeDatabase(filler);
const database = openSqliteDatabase(file);

// Records the SQL drizzle sends on the read connection (where listSuppressions runs), so the plans shown are those of the real queries.
const reader = (database.db as unknown as SqliteDb).$client;
const seenSql: string[] = [];
const prepare = reader.prepare.bind(reader);
reader.prepare = ((source: string) => {
  if (source.includes('from "suppressions"')) seenSql.push(source);
  return prepare(source);
}) as typeof reader.prepare;

async function showPlans(name: string, query: SuppressionQuery): Promise<void> {
  seenSql.length = 0;
  await listSuppressions(database, secrets, query);
  for (const source of seenSql) {
    const params = new Array((source.match(/\?/g) ?? []).length).fill('x');
    const plan = prepare(`explain query plan ${source}`).all(...params) as { detail: string }[];
    console.log(`plan ${name}: ${plan.map((p) => p.detail).join(' | ')}`);
  }
}

async function time(name: string, query: SuppressionQuery, repeat = 20): Promise<void> {
  let page = await listSuppressions(database, secrets, query);
  const t0 = performance.now();
  for (let i = 0; i < repeat; i++) page = await listSuppressions(database, secrets, query);
  const ms = (performance.now() - t0) / repeat;
  console.log(`${name.padEnd(34)} ${ms.toFixed(2).padStart(8)} ms/page  (${page.items.length} items)`);
}

const first = await listSuppressions(database, secrets, { limit: 50 });
await showPlans('next page', { limit: 50, cursor: first.nextCursor! });
await showPlans('domain or prefix', { limit: 50, q: 'gmail.com', cursor: first.nextCursor! });
await showPlans('exact address', { limit: 50, q: 'user1@d1.example' });
await showPlans('broad prefix', { limit: 50, q: 'a' });
await time('first page', { limit: 50 });
await time('second page', { limit: 50, cursor: first.nextCursor! });
await time('deep page (near the oldest)', {
  limit: 50,
  cursor: Buffer.from(`${1_600_000_000_000 + 10 * 2000}.2000`).toString('base64url'),
});
await time('q=gmail.com (a third of rows)', { limit: 50, q: 'gmail.com' });
await time('q=d42.example (rare domain)', { limit: 50, q: 'd42.example' });
await time('q=exact address', { limit: 50, q: 'USER1@D1.example' });
await time('q=a (broad prefix, ~1/36 of rows)', { limit: 50, q: 'a' });
await time('q=a1 (prefix, ~1/1300 of rows)', { limit: 50, q: 'a1' });
await time('q=nobody (prefix of no row)', { limit: 50, q: 'nobody' });
await time('q=a1b (narrow prefix)', { limit: 50, q: 'a1b' });
await time('reason=complained (1% of rows)', { limit: 50, reason: 'complained' });
await time('list=* (every-list entries)', { limit: 50, list: '*' });

await database.close();
rmSync(dir, { recursive: true, force: true });
