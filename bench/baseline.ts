// npm run bench -- --compare: the guard against the next regression. Each ratio to a ceiling and
// each CPU cost per signup or message from this run is held against bench/baseline.json (kept in
// git, updated on purpose with --save-baseline); a row that fell more than its tolerance is
// printed, and the run exits 1.
// npx tsx bench/baseline.ts a.json b.json c.json records the median of several runs' results.json.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BASELINE_FILE = fileURLToPath(new URL('./baseline.json', import.meta.url));
/** How far a measure may fall before --compare calls it a regression. */
export const TOLERANCE = 0.15;
/**
 * The quiet rate's measures: at 10 signups a second every operation wakes the process on its
 * own, and what a wake-up costs on this virtual machine moved by about 20 % between runs with
 * no change at all (9.0–12.8 ms per signup and confirmation), so only a larger fall is news.
 */
const QUIET_TOLERANCE = 0.3;

type Better = 'higher' | 'lower';
export interface Measure {
  value: number;
  better: Better;
  /** Its own tolerance, where the measure is noisier than TOLERANCE allows. */
  tolerance?: number;
}
export interface Baseline {
  recordedAt: string;
  commit: string;
  /** The 1-minute load average at the start of each run recorded. */
  loadAverageAtStart: number[];
  measures: Record<string, Measure>;
}

/**
 * What the guard holds: ratios to a ceiling measured in the same run, of rates and of CPU counted
 * per process (higher is better). Rates, latencies and CPU on their own are left out: they follow
 * the machine's speed and load; a ratio to a ceiling that ran beside it mostly does not.
 */
export function guardedMeasures(results: Record<string, any>): Record<string, Measure> {
  const measures: Record<string, Measure> = {};
  const put = (name: string, value: unknown, better: Better) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return;
    measures[name] = { value, better, ...(name.includes('.paced10.') ? { tolerance: QUIET_TOLERANCE } : {}) };
  };
  // CPU is held as a ratio too (the ceiling's CPU ÷ the service's, PostgreSQL's backends counted
  // with the service): this guest's speed drifted by 40 % between runs an hour apart, and every
  // CPU figure moved with it, the ceilings' as much as the service's.
  const cpuRatio = (ceiling: unknown, ...service: unknown[]) =>
    typeof ceiling === 'number' && service.every((x) => typeof x === 'number' || x === undefined)
      ? ceiling / service.reduce<number>((sum, x) => sum + ((x as number | undefined) ?? 0), 0)
      : undefined;
  const ofEngine = (r: Record<string, any> | undefined, engine: string) => {
    if (!r) return;
    const t = r.throughput;
    put(`${engine}.signup.ratioToBare`, t?.serviceApiOnly?.ratioToBare, 'higher');
    put(
      `${engine}.signup.cpuRatioToBare`,
      cpuRatio(t?.bareExpress?.serverCpuUsPerRequest, t?.serviceApiOnly?.serverCpuUsPerRequest, t?.serviceApiOnly?.postgresCpuUsPerRequest),
      'higher',
    );
    put(`${engine}.signupWithWorker.ratioToBare`, t?.serviceApiAndWorker?.ratioToBare, 'higher');
    put(`${engine}.delivery.ratioToRaw`, r.delivery?.ratioToRaw, 'higher');
    put(
      `${engine}.delivery.cpuRatioToRaw`,
      cpuRatio(r.delivery?.rawNodemailer?.cpuUsPerMessage, r.delivery?.service?.cpuUsPerMessage),
      'higher',
    );
    for (const [phase, name] of [
      ['latency', 'paced200'],
      ['quiet', 'paced10'],
    ] as const) {
      const p = r[phase];
      put(
        `${engine}.${name}.cpuRatioToCeiling`,
        cpuRatio(p?.ceiling?.cpuMsPerSignup, p?.cpuMsPerSignup, p?.postgresCpuMsPerSignup),
        'higher',
      );
    }
  };
  ofEngine(results, 'sqlite');
  ofEngine(results.postgres, 'postgres');
  put('sqlite.broadcast.ratioToRaw', results.broadcast?.ratioToRaw, 'higher');
  const sqliteApi = results.throughput?.serviceApiOnly?.requestsPerSecond;
  const pgApi = results.postgres?.throughput?.serviceApiOnly?.requestsPerSecond;
  if (sqliteApi && pgApi) put('postgres.signup.ratioToSqlite', pgApi / sqliteApi, 'higher');
  return measures;
}

export function readBaseline(): Baseline | undefined {
  return existsSync(BASELINE_FILE) ? (JSON.parse(readFileSync(BASELINE_FILE, 'utf8')) as Baseline) : undefined;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * Writes the measures of one run, or the median of each over several, over the baseline's
 * (measures these runs did not take are kept).
 */
export function saveBaseline(runs: Record<string, any>[], commit: string): void {
  const previous = readBaseline();
  const measured = runs.map(guardedMeasures);
  const measures: Record<string, Measure> = { ...previous?.measures };
  for (const [name, first] of Object.entries(measured[0] ?? {})) {
    const values = measured.flatMap((run) => (run[name] ? [run[name].value] : []));
    measures[name] = { ...first, value: Math.round(median(values) * 100) / 100 };
  }
  const baseline: Baseline = {
    recordedAt: new Date().toISOString(),
    commit,
    loadAverageAtStart: runs.map((run) => run.loadAverageAtStart?.[0]),
    measures,
  };
  writeFileSync(BASELINE_FILE, `${JSON.stringify(baseline, null, 2)}\n`);
}

export interface Comparison {
  name: string;
  baseline: number;
  now: number;
  /** Relative change for the better (positive) or the worse (negative). */
  change: number;
  fell: boolean;
}

export function compareWithBaseline(results: Record<string, any>, baseline: Baseline): Comparison[] {
  const now = guardedMeasures(results);
  return Object.entries(now)
    .filter(([name]) => baseline.measures[name])
    .map(([name, measure]) => {
      const base = baseline.measures[name]!.value;
      const change = measure.better === 'higher' ? measure.value / base - 1 : base / measure.value - 1;
      return { name, baseline: base, now: measure.value, change, fell: change < -(measure.tolerance ?? TOLERANCE) };
    });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: npx tsx bench/baseline.ts <results.json> [more results.json…]');
    process.exit(2);
  }
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  saveBaseline(
    files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>),
    commit,
  );
  console.log(`bench/baseline.json: the median of ${files.length} run(s), at ${commit}`);
}
