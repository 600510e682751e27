// CPU per signup in this process, through the signup group commit, on SQLite and PostgreSQL
// (no HTTP, no Redis): what the service's own database path costs per signup on each engine.
//   npx tsx bench/signupCpu.ts [--seconds=5] [--rounds=3] [--per-turn=32,4]
//   npx tsx --cpu-prof --cpu-prof-dir=bench/profiles bench/signupCpu.ts --db=postgres   # then bench/profileTop.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Database } from '../src/platform/db/database.js';
import { createSignupBatcher } from '../src/features/signup/batch.js';
import { postgresEngine, sqliteEngine, type BenchEngine } from './database.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const seconds = Number(args.get('seconds') ?? 5);
const rounds = Number(args.get('rounds') ?? 3);
const perTurnValues = (args.get('per-turn') ?? '32,4').split(',').map(Number);
const engines = (args.get('db') ?? 'sqlite,postgres').split(',');

const SECRETS = ['bench-secret-0123456789abcdef'];
const ORIGIN = { ip: '127.0.0.1', userAgent: 'optin-bench', source: null };
let serial = 0;
const signup = () => {
  serial += 1;
  return {
    email: `cpu${serial}@d${serial % 1000}.example`,
    listSlug: 'default',
    locale: 'en' as const,
    name: null,
    origin: ORIGIN,
    confirmLimits: { cooldownMs: 15 * 60_000, max: 3 },
  };
};

/** Signups submitted `perTurn` at a time (one event-loop turn each), awaited, for `ms`. */
async function run(database: Database, perTurn: number, ms: number): Promise<{ signups: number; cpuUs: number; wallMs: number }> {
  const batcher = createSignupBatcher(database, SECRETS);
  const cpu = process.cpuUsage();
  const start = performance.now();
  let signups = 0;
  while (performance.now() - start < ms) {
    await Promise.all(Array.from({ length: perTurn }, () => batcher.submit(signup())));
    signups += perTurn;
  }
  const used = process.cpuUsage(cpu);
  return { signups, cpuUs: used.user + used.system, wallMs: performance.now() - start };
}

const dir = mkdtempSync(path.join(tmpdir(), 'optin-signup-cpu-'));
const opened: [BenchEngine, Database][] = [];
try {
  for (const name of engines) {
    const engine = name === 'sqlite' ? sqliteEngine(dir) : postgresEngine();
    opened.push([engine, await engine.open('signup_cpu')]);
  }
  for (const [, database] of opened) await run(database, 32, 1500);
  const results = new Map<string, number[]>();
  for (let round = 1; round <= rounds; round += 1) {
    for (const perTurn of perTurnValues) {
      for (const [engine, database] of round % 2 ? opened : [...opened].reverse()) {
        const { signups, cpuUs, wallMs } = await run(database, perTurn, seconds * 1000);
        const key = `${engine.name} ${perTurn}/turn`;
        results.set(key, [...(results.get(key) ?? []), cpuUs / signups]);
        console.log(
          `round ${round} ${key}: ${Math.round((signups / wallMs) * 1000)} signups/s, ${Math.round(cpuUs / signups)} µs CPU/signup`,
        );
      }
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log('\nmedian CPU µs per signup');
  for (const [key, values] of results)
    console.log(`${key.padEnd(20)} ${Math.round(median(values))}  (${values.map(Math.round).join(', ')})`);
  for (const perTurn of perTurnValues) {
    const sqlite = results.get(`sqlite ${perTurn}/turn`);
    const postgres = results.get(`postgres ${perTurn}/turn`);
    if (sqlite && postgres) console.log(`PostgreSQL ÷ SQLite CPU, ${perTurn}/turn: ${(median(postgres) / median(sqlite)).toFixed(2)}×`);
  }
} finally {
  for (const [engine, database] of opened) {
    await engine.closeAndMeasure(database).catch(() => {});
    await engine.dropAll();
  }
  rmSync(dir, { recursive: true, force: true });
}
