// npm run bench -- --compare: the guard against the next regression. Each ratio to a ceiling and
// each CPU cost per signup or message from this run is held against bench/baseline.json (kept in
// git, updated on purpose with --save-baseline); a row that fell more than 15 % is printed, and
// the run exits 1.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BASELINE_FILE = fileURLToPath(new URL('./baseline.json', import.meta.url));
/** How far a measure may fall before --compare calls it a regression. */
export const TOLERANCE = 0.15;

type Better = 'higher' | 'lower';
export interface Measure {
  value: number;
  better: Better;
}
export interface Baseline {
  recordedAt: string;
  commit: string;
  loadAverageAtStart: number[];
  measures: Record<string, Measure>;
}

/**
 * What the guard holds: ratios to a ceiling measured in the same run (higher is better) and CPU
 * per signup or message counted in one process (lower is better). Rates and latencies are left
 * out: they follow the machine's speed and load, which these two measures do not.
 */
export function guardedMeasures(results: Record<string, any>): Record<string, Measure> {
  const measures: Record<string, Measure> = {};
  const put = (name: string, value: unknown, better: Better) => {
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) measures[name] = { value, better };
  };
  const ofEngine = (r: Record<string, any> | undefined, engine: string) => {
    if (!r) return;
    put(`${engine}.signup.ratioToBare`, r.throughput?.serviceApiOnly?.ratioToBare, 'higher');
    put(`${engine}.signup.cpuUsPerRequest`, r.throughput?.serviceApiOnly?.serverCpuUsPerRequest, 'lower');
    put(`${engine}.signupWithWorker.ratioToBare`, r.throughput?.serviceApiAndWorker?.ratioToBare, 'higher');
    put(`${engine}.delivery.ratioToRaw`, r.delivery?.ratioToRaw, 'higher');
    put(`${engine}.delivery.cpuUsPerMessage`, r.delivery?.service?.cpuUsPerMessage, 'lower');
    put(`${engine}.paced200.serviceCpuMsPerSignup`, r.latency?.serviceCpuMsPerSignup, 'lower');
    put(`${engine}.paced200.postgresCpuMsPerSignup`, r.latency?.postgresCpuMsPerSignup, 'lower');
    put(`${engine}.paced200.cpuRatioToCeiling`, r.latency?.ceilingCpuRatio, 'higher');
    put(`${engine}.paced10.cpuRatioToCeiling`, r.quiet?.ceilingCpuRatio, 'higher');
    put(`${engine}.paced10.serviceCpuMsPerSignup`, r.quiet?.serviceCpuMsPerSignup, 'lower');
    put(`${engine}.paced10.postgresCpuMsPerSignup`, r.quiet?.postgresCpuMsPerSignup, 'lower');
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

/** Writes this run's measures over the baseline's (measures this run did not take are kept). */
export function saveBaseline(results: Record<string, any>, commit: string): void {
  const previous = readBaseline();
  const baseline: Baseline = {
    recordedAt: new Date().toISOString(),
    commit,
    loadAverageAtStart: results.loadAverageAtStart,
    measures: { ...previous?.measures, ...guardedMeasures(results) },
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
      return { name, baseline: base, now: measure.value, change, fell: change < -TOLERANCE };
    });
}
