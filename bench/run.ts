// npm run bench [-- --only=throughput,delivery,broadcast,latency,quiet,stats,render,database] [--profile] [--db=postgres] [--seconds=10]
//                 [--compare] [--save-baseline] [--sink=count]
// See docs/performance.md for what each number means and what limits it.
// --db=postgres runs every phase on PostgreSQL too (a scratch database on the local server,
// 127.0.0.1:5432, given to the service as DATABASE_URL), beside SQLite in the same run, plus two
// API processes on one PostgreSQL database; docs/performance.md has those numbers.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createScratchDatabase, type ScratchDatabase } from '../test/support/postgres.js';
import { deleteRedisKeys, REDIS_URL } from '../test/support/service.js';
import { PROFILE_DIR, startChild, type Child } from './child.js';
import { machineCpuMs, ownCpuMs, postgresBackendsCpuMs } from './cpu.js';
import { benchBatchedSignups, benchSignupInserts, benchSuppressions, postgresEngine, sqliteEngine, type BenchEngine } from './database.js';
import { seedDashboard, timeGets, timeUncachedStats } from './dashboard.js';
import { benchRendering } from './render.js';
import { broadcastCounts, seedBroadcastList, sendBroadcast } from './broadcast.js';
import { BASELINE_FILE, compareWithBaseline, readBaseline, saveBaseline, TOLERANCE } from './baseline.js';
import { startNpmStart } from './npmStart.js';
import { startBenchSink, type BenchSink } from './sink.js';
import { clock, percentile, round } from './stats.js';

const args = process.argv.slice(2);
const compare = args.includes('--compare');
const saveAsBaseline = args.includes('--save-baseline');
/** The phases on the signup and send path: what --compare runs unless --only says otherwise. */
const GUARDED_PHASES = ['throughput', 'delivery', 'latency', 'quiet'];
const only =
  args
    .find((a) => a.startsWith('--only='))
    ?.slice(7)
    .split(',') ?? (compare || saveAsBaseline ? GUARDED_PHASES : undefined);
const profile = args.includes('--profile');
const wanted = (phase: string) => !only || only.includes(phase);
type Engine = 'sqlite' | 'postgres';
const dbOption = args.find((a) => a.startsWith('--db='))?.slice(5) ?? 'sqlite';
if (dbOption !== 'sqlite' && dbOption !== 'postgres') {
  console.error(`--db=${dbOption}: expected sqlite or postgres`);
  process.exit(2);
}
/** SQLite always; PostgreSQL beside it with --db=postgres. */
const engines: Engine[] = dbOption === 'postgres' ? ['sqlite', 'postgres'] : ['sqlite'];
const ENGINE_NAMES: Record<Engine, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

const CONNECTIONS = 32;
const THROUGHPUT_SECONDS = Number(args.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 10);
const WARMUP_SECONDS = 3;
const DELIVERY_SIGNUPS = 2000;
const PACED_RATE = 200;
const PACED_SIGNUPS = 2000;
/** A small site's rate: what is paid per operation rather than per unit of work shows here. */
const QUIET_RATE = 10;
const QUIET_SIGNUPS = 300;
const SUPPRESSION_ENTRIES = 1_000_000;
const DB_SIGNUPS = 100_000;
/** A broadcast's recipients in the rate measure (as many as raw nodemailer sends), and in the memory measure. */
const BROADCAST_RECIPIENTS = DELIVERY_SIGNUPS;
const BROADCAST_MEMORY_RECIPIENTS = 100_000;
const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789';
/** Contacts (one subscription each) behind the dashboard's numbers. */
const STATS_CONTACTS = Number(args.find((a) => a.startsWith('--contacts='))?.slice(11) ?? 1_000_000);
/** On PostgreSQL each signup-insert measure stops after this long: one commit at a time waits for the WAL flush. */
const PG_DB_SIGNUP_SECONDS = 10;

if (profile) rmSync(PROFILE_DIR, { recursive: true, force: true });
const workDir = mkdtempSync(path.join(tmpdir(), 'optin-bench-'));
const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, platform: `${process.platform} ${process.arch}` },
  setup:
    'load generator (autocannon / paced client) and SMTP sink in the bench process; the service, the bare express ceiling ' +
    'and the raw nodemailer ceiling each in their own child process; Redis local' +
    (engines.includes('postgres') ? '; PostgreSQL local (a scratch database per service, dropped after)' : ''),
  startedAt: new Date().toISOString(),
  // Anything else running on the machine shows here; the numbers are only comparable when it is low.
  loadAverageAtStart: loadavg().map((l) => round(l, 2)),
};

// ---- helpers -------------------------------------------------------------------------------

let addressCounter = 0;
const signupBody = (prefix: string) => JSON.stringify({ email: `${prefix}-${addressCounter++}@example.com` });

/** BENCH_SMTP_QUERY (e.g. maxConnections=10) tunes the pool of the service and of raw nodemailer alike. */
const smtpUrl = (sink: BenchSink) => (process.env.BENCH_SMTP_QUERY ? `${sink.url}?${process.env.BENCH_SMTP_QUERY}` : sink.url);

/** Where one service keeps its state: a queue prefix, and a SQLite folder or a PostgreSQL scratch database. */
interface ServiceStore {
  name: string;
  engine: Engine;
  prefix: string;
  scratch?: ScratchDatabase;
}

async function newStore(name: string, engine: Engine): Promise<ServiceStore> {
  const store: ServiceStore = { name, engine, prefix: `bench-${name}-${randomUUID()}` };
  if (engine === 'postgres') store.scratch = await createScratchDatabase(`optin_bench_${name.replace(/-/g, '_')}`);
  return store;
}

function serviceEnv(sink: BenchSink, store: ServiceStore): Record<string, string> {
  const dataDir = path.join(workDir, store.name);
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_PATH: path.join(dataDir, 'optin.db'),
    ...(store.scratch ? { DATABASE_URL: store.scratch.url } : {}),
    REDIS_URL,
    QUEUE_PREFIX: store.prefix,
    SMTP_URL: smtpUrl(sink),
    MAIL_FROM: 'optin bench <news@example.org>',
    SECRET: 'bench-secret-0123456789abcdef',
    PUBLIC_URL: 'http://optin.bench',
    LOG_LEVEL: 'warn',
    // One client IP sends everything here: per-IP rate limiting would measure the limiter.
    RATE_LIMIT_PER_MINUTE: '0',
    // Every address is new and gets one confirmation, so the per-address limits never refuse
    // one; they stay on (a short cooldown) so their cost is measured.
    CONFIRM_COOLDOWN: '1s',
    ...(process.env.BENCH_WORKER_CONCURRENCY ? { WORKER_CONCURRENCY: process.env.BENCH_WORKER_CONCURRENCY } : {}),
  };
}

interface RunningService {
  child: Child;
  url: string;
  store: ServiceStore;
}

/** A service process on `store`; several may share one (one database and queue, as on several hosts). */
async function startServiceOn(sink: BenchSink, store: ServiceStore, roles: string, profileName = store.name): Promise<RunningService> {
  const child = await startChild('./serviceProcess.ts', {
    args: [roles],
    env: serviceEnv(sink, store),
    profile: profile ? `service-${profileName}` : undefined,
  });
  return { child, url: String(child.ready.url), store };
}

/** A service on a store of its own (engine SQLite unless told). */
async function startService(sink: BenchSink, name: string, roles: string, engine: Engine = 'sqlite'): Promise<RunningService> {
  const store = await newStore(name, engine);
  try {
    return await startServiceOn(sink, store, roles);
  } catch (error) {
    await dropStore(store);
    throw error;
  }
}

async function dropStore(store: ServiceStore): Promise<void> {
  await deleteRedisKeys(`${store.prefix}:*`);
  await store.scratch?.drop();
}

/** Stops the processes (all on one store), then removes what they kept. */
async function stopService(...services: RunningService[]): Promise<void> {
  await Promise.all(services.map((service) => service.child.stop()));
  await dropStore(services[0]!.store);
}

/** Engine-specific name of a phase's service: SQLite keeps the names it always had. */
const serviceName = (base: string, engine: Engine) => (engine === 'sqlite' ? base : `${base}-pg`);

async function cannon(url: string, prefix: string, options: { duration?: number; amount?: number; connections?: number }) {
  const result = await autocannon({
    url: `${url}/subscribe`,
    connections: options.connections ?? CONNECTIONS,
    ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? THROUGHPUT_SECONDS }),
    requests: [
      {
        method: 'POST',
        path: '/subscribe',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        setupRequest: (request) => ({ ...request, body: signupBody(prefix) }),
      },
    ],
  });
  return {
    requestsPerSecond: round(result.requests.average, 0),
    requests: result.requests.total,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    durationSeconds: round(result.duration, 2),
  };
}

/**
 * Signups as fast as the servers answer, the CONNECTIONS split evenly over them (one load
 * generator, as a load balancer would spread them). Beside the rate: CPU per request of the
 * server processes (and of the PostgreSQL backends serving `postgresDatabase`), and how busy the
 * load generator and the whole machine were, which is what limits the rate when it is high.
 */
async function measureThroughput(servers: readonly { child: Child; url: string }[], prefix: string, postgresDatabase?: string) {
  const connections = Math.floor(CONNECTIONS / servers.length);
  const run = (tag: string, duration: number) =>
    Promise.all(servers.map((server, i) => cannon(server.url, `${tag}-${i}`, { duration, connections })));
  await run(`${prefix}-warm`, WARMUP_SECONDS);
  const serverCpu = () => Promise.all(servers.map((server) => server.child.cpuMs())).then((ms) => ms.reduce((a, b) => a + b, 0));
  const postgresCpu = () => (postgresDatabase ? postgresBackendsCpuMs(postgresDatabase) : Promise.resolve(0));
  const [cpuBefore, pgBefore] = [await serverCpu(), await postgresCpu()];
  const machineBefore = machineCpuMs();
  const ownBefore = ownCpuMs();
  const wallBefore = clock();
  const each = await run(prefix, THROUGHPUT_SECONDS);
  const wallMs = clock() - wallBefore;
  const ownMs = ownCpuMs() - ownBefore;
  const machineAfter = machineCpuMs();
  const [cpuMs, pgMs] = [(await serverCpu()) - cpuBefore, (await postgresCpu()) - pgBefore];
  const requests = each.reduce((sum, r) => sum + r.requests, 0);
  return {
    requestsPerSecond: each.reduce((sum, r) => sum + r.requestsPerSecond, 0),
    requests,
    // With several servers: the slowest one's.
    latencyP50Ms: Math.max(...each.map((r) => r.latencyP50Ms)),
    latencyP99Ms: Math.max(...each.map((r) => r.latencyP99Ms)),
    non2xx: each.reduce((sum, r) => sum + r.non2xx, 0),
    errors: each.reduce((sum, r) => sum + r.errors, 0),
    durationSeconds: Math.max(...each.map((r) => r.durationSeconds)),
    processes: servers.length,
    serverCpuUsPerRequest: Math.round((cpuMs * 1000) / requests),
    ...(postgresDatabase ? { postgresCpuUsPerRequest: Math.round((pgMs * 1000) / requests) } : {}),
    // Of one core: the bench process runs autocannon (and the SMTP sink).
    loadGeneratorCoreShare: round(ownMs / wallMs, 2),
    // Of all cores, whoever used them (this bench, PostgreSQL, Redis, anything else on the machine).
    machineBusyShare:
      machineAfter.total > machineBefore.total
        ? round((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total), 2)
        : null,
  };
}

/** Sends `count` signups at a steady `rate` per second, each on time rather than as fast as possible. */
async function pacedSignups(url: string, prefix: string, rate: number, count: number) {
  const sentAt = new Map<string, number>();
  const failures: string[] = [];
  const interval = 1000 / rate;
  const start = clock();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + i * interval;
    const wait = due - clock();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const email = `${prefix}-${i}@example.com`;
    sentAt.set(email, clock());
    inFlight.push(
      fetch(`${url}/subscribe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ email }),
      }).then(
        async (response) => {
          await response.arrayBuffer();
          if (response.status !== 202) failures.push(`${response.status}`);
        },
        (error: Error) => {
          failures.push(error.message);
        },
      ),
    );
  }
  await Promise.all(inFlight);
  return { sentAt, failures, achievedRate: round(count / ((clock() - start) / 1000), 0) };
}

// ---- phases --------------------------------------------------------------------------------

/** One service process (roles as given) on a store of its own, measured and stopped. */
async function throughputOf(sink: BenchSink, name: string, roles: string, engine: Engine, prefix: string, processes = 1) {
  const first = await startService(sink, serviceName(name, engine), roles, engine);
  const all = [first];
  try {
    for (let i = 1; i < processes; i++) all.push(await startServiceOn(sink, first.store, roles, `${first.store.name}-${i + 1}`));
    return await measureThroughput(all, prefix, first.store.scratch?.name);
  } finally {
    await stopService(...all);
    sink.reset();
  }
}

async function throughputPhase(sink: BenchSink) {
  const bare = await startChild('./bareProcess.ts');
  const bareResult = await measureThroughput([{ child: bare, url: String(bare.ready.url) }], 'bare');
  await bare.stop();

  const withBare = <T extends { requestsPerSecond: number }>(result: T) => ({
    ...result,
    ratioToBare: round(result.requestsPerSecond / bareResult.requestsPerSecond, 2),
  });
  const byEngine: Partial<Record<Engine, Record<string, unknown>>> = {};
  // Measures that are compared run one right after the other: the machine's speed drifts.
  for (const engine of engines)
    byEngine[engine] = {
      bareExpress: bareResult,
      serviceApiOnly: withBare(await throughputOf(sink, 'throughput-api', 'api', engine, 'api')),
    };
  if (byEngine.postgres)
    byEngine.postgres.twoApiProcesses = withBare(await throughputOf(sink, 'throughput-2api', 'api', 'postgres', 'api2', 2));
  for (const engine of engines)
    byEngine[engine]!.serviceApiAndWorker = withBare(await throughputOf(sink, 'throughput-both', 'api,worker', engine, 'both'));
  return byEngine;
}

async function serviceDelivery(sink: BenchSink, engine: Engine) {
  sink.reset();
  const service = await startService(sink, serviceName('delivery', engine), 'api,worker', engine);
  // Warm the service (JIT, SMTP pool) with a few signups first, like a running instance.
  await cannon(service.url, 'delivery-warm', { amount: 200 });
  await sink.waitForCount(200, 30_000);
  sink.reset();
  const cpuBefore = await service.child.cpuMs();
  const start = clock();
  const signups = await cannon(service.url, 'delivery', { amount: DELIVERY_SIGNUPS });
  const signupsDone = clock();
  await sink.waitForCount(DELIVERY_SIGNUPS, 120_000);
  const serviceSeconds = (clock() - start) / 1000;
  const serviceCpuMs = (await service.child.cpuMs()) - cpuBefore;
  await stopService(service);
  return { signups, serviceSeconds, serviceCpuMs, signupSeconds: (signupsDone - start) / 1000 };
}

async function rawDelivery(sink: BenchSink) {
  sink.reset();
  const raw = await startChild('./rawSender.ts', { args: [smtpUrl(sink), String(DELIVERY_SIGNUPS + 200), 'rawwarm'] });
  raw.process.send({ type: 'go' });
  await sink.waitForCount(DELIVERY_SIGNUPS + 200, 120_000);
  await raw.stop();
  sink.reset();
  const rawRun = await startChild('./rawSender.ts', { args: [smtpUrl(sink), String(DELIVERY_SIGNUPS), 'raw'] });
  const rawDone = new Promise<{ start: number }>((resolve) =>
    rawRun.process.on('message', (m: { type: string; start: number }) => m.type === 'done' && resolve(m)),
  );
  const rawCpuBefore = await rawRun.cpuMs();
  rawRun.process.send({ type: 'go' });
  const { start: rawStart } = await rawDone;
  await sink.waitForCount(DELIVERY_SIGNUPS, 120_000);
  const rawSeconds = (clock() - rawStart) / 1000;
  const rawCpuMs = (await rawRun.cpuMs()) - rawCpuBefore;
  await rawRun.stop();
  sink.reset();
  return { rawSeconds, rawCpuMs };
}

async function deliveryPhase(sink: BenchSink) {
  const services: Partial<Record<Engine, Awaited<ReturnType<typeof serviceDelivery>>>> = {};
  for (const engine of engines) services[engine] = await serviceDelivery(sink, engine);
  const raw = await rawDelivery(sink);
  const byEngine: Partial<Record<Engine, ReturnType<typeof deliveryResult>>> = {};
  for (const engine of engines) byEngine[engine] = deliveryResult(services[engine]!, raw);
  return byEngine;
}

function deliveryResult(
  { signups, serviceSeconds, serviceCpuMs, signupSeconds }: Awaited<ReturnType<typeof serviceDelivery>>,
  { rawSeconds, rawCpuMs }: Awaited<ReturnType<typeof rawDelivery>>,
) {
  const servicePerSecond = round(DELIVERY_SIGNUPS / serviceSeconds, 0);
  const rawPerSecond = round(DELIVERY_SIGNUPS / rawSeconds, 0);
  return {
    messages: DELIVERY_SIGNUPS,
    service: {
      perSecond: servicePerSecond,
      seconds: round(serviceSeconds, 2),
      signupSeconds: round(signupSeconds, 2),
      signupNon2xx: signups.non2xx,
      // Signup and delivery together, in the service process.
      cpuUsPerMessage: Math.round((serviceCpuMs * 1000) / DELIVERY_SIGNUPS),
    },
    rawNodemailer: {
      perSecond: rawPerSecond,
      seconds: round(rawSeconds, 2),
      cpuUsPerMessage: Math.round((rawCpuMs * 1000) / DELIVERY_SIGNUPS),
    },
    ratioToRaw: round(servicePerSecond / rawPerSecond, 2),
  };
}

/** A service on its own SQLite store with lists seeded before it starts; BROADCAST_RATE_PER_MINUTE as given. */
async function broadcastService(sink: BenchSink, name: string, lists: Record<string, number>, ratePerMinute: string) {
  const store = await newStore(name, 'sqlite');
  const env = { ...serviceEnv(sink, store), ADMIN_TOKEN: BENCH_ADMIN_TOKEN, BROADCAST_RATE_PER_MINUTE: ratePerMinute };
  mkdirSync(path.join(workDir, store.name), { recursive: true });
  const seedStart = clock();
  for (const [slug, count] of Object.entries(lists)) await seedBroadcastList(env, slug, count);
  const seedSeconds = (clock() - seedStart) / 1000;
  const child = await startChild('./serviceProcess.ts', { args: ['api,worker'], env, profile: profile ? `service-${name}` : undefined });
  return { child, url: String(child.ready.url), store, seedSeconds };
}

/** Broadcast delivery with the pace off: from the send request until the sink has every message. */
async function broadcastDelivery(sink: BenchSink) {
  sink.reset();
  const service = await broadcastService(sink, 'broadcast', { warm: 200, bench: BROADCAST_RECIPIENTS }, '0');
  try {
    await sendBroadcast(service.url, BENCH_ADMIN_TOKEN, 'warm');
    await sink.waitForCount(200, 60_000);
    sink.reset();
    const cpuBefore = await service.child.cpuMs();
    const start = clock();
    await sendBroadcast(service.url, BENCH_ADMIN_TOKEN, 'bench');
    await sink.waitForCount(BROADCAST_RECIPIENTS, 180_000);
    const seconds = (clock() - start) / 1000;
    const cpuMs = (await service.child.cpuMs()) - cpuBefore;
    return { seconds, cpuMs };
  } finally {
    await service.child.stop();
    await dropStore(service.store);
    sink.reset();
  }
}

/**
 * Memory while 100,000 recipients are written to the outbox (in batches, at the default pace,
 * so they wait there): the service's live heap (after a full collection) before the send, at its
 * highest while the batches are written (sampled every 250 ms) and after; RSS likewise.
 */
async function broadcastMemory(sink: BenchSink) {
  const service = await broadcastService(sink, 'broadcast-memory', { big: BROADCAST_MEMORY_RECIPIENTS }, '600');
  try {
    const before = await service.child.memory(true);
    const peak = { heapUsed: before.heapUsed, rss: before.rss };
    const start = clock();
    const id = await sendBroadcast(service.url, BENCH_ADMIN_TOKEN, 'big');
    for (;;) {
      const usage = await service.child.memory(true);
      peak.heapUsed = Math.max(peak.heapUsed, usage.heapUsed);
      peak.rss = Math.max(peak.rss, usage.rss);
      const counts = await broadcastCounts(service.url, BENCH_ADMIN_TOKEN, id);
      if (counts.queued + counts.sent >= BROADCAST_MEMORY_RECIPIENTS) break;
      if (clock() - start > 300_000) throw new Error('100,000 recipients not written in 5 minutes');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const after = await service.child.memory(true);
    const mb = (bytes: number) => round(bytes / 1048576, 1);
    return {
      recipients: BROADCAST_MEMORY_RECIPIENTS,
      seedSeconds: round(service.seedSeconds, 1),
      queueSeconds: round((clock() - start) / 1000, 1),
      heapMb: { before: mb(before.heapUsed), peak: mb(peak.heapUsed), after: mb(after.heapUsed) },
      rssMb: { before: mb(before.rss), peak: mb(peak.rss), after: mb(after.rss) },
    };
  } finally {
    await service.child.stop();
    await dropStore(service.store);
    sink.reset();
  }
}

async function broadcastPhase(sink: BenchSink) {
  const service = await broadcastDelivery(sink);
  // Right after, as the delivery phase does: the machine's speed drifts.
  const raw = await rawDelivery(sink);
  const perSecond = round(BROADCAST_RECIPIENTS / service.seconds, 0);
  const rawPerSecond = round(DELIVERY_SIGNUPS / raw.rawSeconds, 0);
  return {
    messages: BROADCAST_RECIPIENTS,
    service: { perSecond, seconds: round(service.seconds, 2), cpuUsPerMessage: Math.round((service.cpuMs * 1000) / BROADCAST_RECIPIENTS) },
    rawNodemailer: {
      perSecond: rawPerSecond,
      seconds: round(raw.rawSeconds, 2),
      cpuUsPerMessage: Math.round((raw.rawCpuMs * 1000) / DELIVERY_SIGNUPS),
    },
    ratioToRaw: round(perSecond / rawPerSecond, 2),
    memory: await broadcastMemory(sink),
  };
}

/** Paced signups at `url`, each followed to the sink: latencies, and the CPU `cpuMs` counts per signup and confirmation. */
async function pacedRun(
  sink: BenchSink,
  url: string,
  cpuMs: () => Promise<number>,
  name: string,
  rate: number,
  signups: number,
  postgresCpuMs: () => Promise<number> = () => Promise.resolve(0),
) {
  sink.reset();
  const warm = Math.min(400, Math.max(50, rate * 2));
  await pacedSignups(url, `${name}-warm`, rate, warm);
  await sink.waitForCount(warm, 30_000);
  sink.reset();
  const [cpuBefore, pgBefore, machineBefore, ownBefore] = [await cpuMs(), await postgresCpuMs(), machineCpuMs(), ownCpuMs()];
  const wallStart = clock();
  const run = await pacedSignups(url, name, rate, signups);
  await sink.waitForCount(signups, 60_000).catch(() => {});
  const wallMs = clock() - wallStart;
  const [used, pgUsed, machineAfter, ownUsed] = [
    (await cpuMs()) - cpuBefore,
    (await postgresCpuMs()) - pgBefore,
    machineCpuMs(),
    ownCpuMs() - ownBefore,
  ];
  const latencies: number[] = [];
  for (const [email, sent] of run.sentAt) {
    const arrived = sink.arrivals.get(email);
    if (arrived !== undefined) latencies.push(arrived - sent);
  }
  sink.reset();
  return {
    rate,
    achievedRate: run.achievedRate,
    signups,
    delivered: latencies.length,
    failedSignups: run.failures.length,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(percentile(latencies, 100)),
    // How much of one core the process needed: near 1 means it was the bottleneck.
    coreShare: round(used / wallMs, 2),
    cpuMsPerSignup: round(used / signups, 2),
    postgresCpuMsPerSignup: round(pgUsed / signups, 2),
    // The bench process: the paced client and the SMTP sink (which parses every message).
    loadGeneratorCpuMsPerSignup: round(ownUsed / signups, 2),
    machineCpuMsPerSignup: round((machineAfter.busy - machineBefore.busy) / signups, 2),
  };
}

/**
 * Signups at a steady `rate` against the service as `npm start` runs it (compiled, both roles,
 * default settings but for the bench's own: one client IP, a fresh store), then against the paced
 * ceiling (bench/pacedCeiling.ts: express and pooled nodemailer, nothing else) at the same rate.
 * CPU per signup and its confirmation is counted per process: the service, PostgreSQL's backends
 * for its database, the ceiling; and for the whole machine.
 */
async function pacedPhase(sink: BenchSink, engine: Engine, rate: number, signups: number, name: string) {
  const store = await newStore(serviceName(name, engine), engine);
  const env = serviceEnv(sink, store);
  mkdirSync(path.dirname(env.DATABASE_PATH!), { recursive: true });
  let service;
  try {
    service = await startNpmStart(env, profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}/service-${serviceName(name, engine)}`] : []);
    const postgresCpu = store.scratch ? () => postgresBackendsCpuMs(store.scratch!.name) : undefined;
    const { postgresCpuMsPerSignup, ...run } = await pacedRun(sink, service.url, service.cpuMs, name, rate, signups, postgresCpu);
    await service.stop();
    service = undefined;
    const ceilingChild = await startChild('./pacedCeiling.ts', { args: [smtpUrl(sink)] });
    const ceiling = await pacedRun(sink, String(ceilingChild.ready.url), ceilingChild.cpuMs, `${name}-ceiling`, rate, signups).finally(() =>
      ceilingChild.stop(),
    );
    return {
      ...run,
      ...(store.scratch ? { postgresCpuMsPerSignup } : {}),
      ceiling: { cpuMsPerSignup: ceiling.cpuMsPerSignup, p50Ms: ceiling.p50Ms, p99Ms: ceiling.p99Ms, delivered: ceiling.delivered },
    };
  } finally {
    await service?.stop();
    await dropStore(store);
  }
}

// ---- report --------------------------------------------------------------------------------

type Row = [string, string, string, string];

function goalRows(r: Record<string, any>, engine: Engine = 'sqlite'): Row[] {
  const rows: Row[] = [];
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  if (r.throughput) {
    const t = r.throughput;
    rows.push([
      'bare express ceiling',
      `${t.bareExpress.requestsPerSecond} req/s`,
      `p50 ${t.bareExpress.latencyP50Ms} ms, p99 ${t.bareExpress.latencyP99Ms} ms, ${t.bareExpress.serverCpuUsPerRequest} µs CPU/req`,
      '',
    ]);
    const signupRows = [
      ['signup (api process)', t.serviceApiOnly],
      ...(t.twoApiProcesses ? [['signup (2 api processes, one database)', t.twoApiProcesses]] : []),
      ['signup (api+worker process)', t.serviceApiAndWorker],
    ] as const;
    for (const [label, s] of signupRows) {
      rows.push([
        label,
        `${s.requestsPerSecond} req/s (${Math.round(s.ratioToBare * 100)} % of bare)`,
        `p50 ${s.latencyP50Ms} ms, p99 ${s.latencyP99Ms} ms, non-2xx ${s.non2xx}, errors ${s.errors}, ${s.serverCpuUsPerRequest} µs CPU/req` +
          (s.postgresCpuUsPerRequest !== undefined ? ` + PostgreSQL ${s.postgresCpuUsPerRequest} µs` : '') +
          `; load generator ${Math.round(s.loadGeneratorCoreShare * 100)} % of a core` +
          (s.machineBusyShare !== null ? `, machine ${Math.round(s.machineBusyShare * 100)} % busy` : ''),
        `≥ 50 %, 0 errors: ${met(s.ratioToBare >= 0.5 && s.non2xx === 0 && s.errors === 0)}`,
      ]);
    }
  }
  if (r.stats) {
    const st = r.stats;
    const timed = [
      ['dashboardStats uncached, in process (every list, 30 days)', st.uncachedInProcess],
      ['GET /admin/api/stats (30 days, every list)', st.statsApi],
      ['GET /admin/api/stats (one list)', st.statsApiOneList],
      ['GET /admin/api/stats (365 days)', st.statsApiYear],
      ['dashboard page /admin', st.dashboardPage],
      ['subscribers page (1000 confirmed)', st.subscribersPage],
    ] as const;
    for (const [label, m] of timed) {
      rows.push([
        `${label} at ${st.seed.contacts} contacts`,
        `p50 ${m.p50Ms} ms`,
        `p99 ${m.p99Ms} ms, max ${m.maxMs} ms over ${m.requests} requests`,
        label.startsWith('subscribers') ? '' : `< 50 ms: ${met(m.p50Ms < 50)}`,
      ]);
    }
  }
  if (r.delivery) {
    const d = r.delivery;
    rows.push([
      'raw pooled nodemailer',
      `${d.rawNodemailer.perSecond} msg/s`,
      `${d.messages} messages in ${d.rawNodemailer.seconds} s, ${d.rawNodemailer.cpuUsPerMessage} µs CPU/msg`,
      '',
    ]);
    rows.push([
      'delivery, signup → sink',
      `${d.service.perSecond} msg/s (${Math.round(d.ratioToRaw * 100)} % of raw)`,
      `${d.messages} in ${d.service.seconds} s (signups took ${d.service.signupSeconds} s), ${d.service.cpuUsPerMessage} µs CPU/msg`,
      `≥ 70 %: ${met(d.ratioToRaw >= 0.7)}`,
    ]);
  }
  if (r.broadcast) {
    const b = r.broadcast;
    rows.push([
      'raw pooled nodemailer (broadcast run)',
      `${b.rawNodemailer.perSecond} msg/s`,
      `${b.messages} messages in ${b.rawNodemailer.seconds} s, ${b.rawNodemailer.cpuUsPerMessage} µs CPU/msg`,
      '',
    ]);
    rows.push([
      'broadcast, send → sink (no pace)',
      `${b.service.perSecond} msg/s (${Math.round(b.ratioToRaw * 100)} % of raw)`,
      `${b.messages} in ${b.service.seconds} s, ${b.service.cpuUsPerMessage} µs CPU/msg`,
      `≥ 70 %: ${met(b.ratioToRaw >= 0.7)}`,
    ]);
    const m = b.memory;
    rows.push([
      `broadcast, ${m.recipients} recipients queued`,
      `live heap ${m.heapMb.before} → peak ${m.heapMb.peak} → ${m.heapMb.after} MB`,
      `RSS ${m.rssMb.before} → peak ${m.rssMb.peak} MB; written in ${m.queueSeconds} s`,
      `flat (live heap peak ≤ before + 20 MB): ${met(m.heapMb.peak <= m.heapMb.before + 20)}`,
    ]);
  }
  const cpuOf = (p: { cpuMsPerSignup: number; postgresCpuMsPerSignup?: number; machineCpuMsPerSignup: number }) =>
    `service ${p.cpuMsPerSignup} ms` +
    (p.postgresCpuMsPerSignup !== undefined ? ` + PostgreSQL backends ${p.postgresCpuMsPerSignup} ms` : '') +
    `; machine ${p.machineCpuMsPerSignup} ms`;
  const cpuGoal = (p: { cpuMsPerSignup: number; postgresCpuMsPerSignup?: number }, sqliteMs: number) =>
    engine === 'postgres'
      ? `service + backends ≤ 4 ms: ${met(p.cpuMsPerSignup + (p.postgresCpuMsPerSignup ?? 0) <= 4)}`
      : `service ≤ ${sqliteMs} ms: ${met(p.cpuMsPerSignup <= sqliteMs)}`;
  if (r.latency) {
    const l = r.latency;
    const p99Goal = engine === 'postgres' ? 500 : 250;
    const p50Goal = engine === 'postgres' ? Infinity : 20;
    rows.push([
      `signup → inbox at ${l.rate}/s (npm start)`,
      `p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms`,
      `max ${l.maxMs} ms, ${l.delivered}/${l.signups} delivered, paced at ${l.achievedRate}/s, service used ${Math.round(l.coreShare * 100)} % of a core`,
      `${p50Goal < Infinity ? `p50 ≤ ${p50Goal}, ` : ''}p99 ≤ ${p99Goal}: ${met(l.p50Ms <= p50Goal && l.p99Ms <= p99Goal && l.delivered === l.signups)}`,
    ]);
    rows.push([
      `CPU per signup + confirmation at ${l.rate}/s`,
      `${l.cpuMsPerSignup} ms (ceiling ${l.ceiling.cpuMsPerSignup} ms)`,
      cpuOf(l),
      cpuGoal(l, 2.5),
    ]);
  }
  if (r.quiet) {
    const q = r.quiet;
    rows.push([
      `CPU per signup + confirmation at ${q.rate}/s`,
      `${q.cpuMsPerSignup} ms (ceiling ${q.ceiling.cpuMsPerSignup} ms)`,
      `${cpuOf(q)}; p50 ${q.p50Ms} ms, p99 ${q.p99Ms} ms, ${q.delivered}/${q.signups} delivered`,
      cpuGoal(q, 3),
    ]);
  }
  if (r.render) {
    const m = r.render;
    rows.push([
      'render precompiled vs mjml2html',
      `${m.precompiledUs} µs vs ${m.mjml2htmlUs} µs`,
      `${m.ratio}× cheaper`,
      `≥ 100×: ${met(m.ratio >= 100)}`,
    ]);
  }
  if (r.database) {
    const s = r.database.signupInsert;
    const q = r.database.suppression;
    rows.push([
      'signup insert (one transaction each)',
      `${s.perSecond} signups/s`,
      `${s.signups} signups, ${s.mbPerMillionContacts} MB per million contacts`,
      '',
    ]);
    rows.push([
      'signup insert (group commit, 32 at once)',
      `${s.batchedPerSecond} signups/s`,
      'createSignupBatcher, as POST /subscribe under load',
      '',
    ]);
    rows.push([
      `findSuppression, ${q.entries} entries`,
      `mean ${q.findSuppressionUs.mean} µs`,
      `p50 ${q.findSuppressionUs.p50} µs, p99 ${q.findSuppressionUs.p99} µs`,
      `≤ 50 µs: ${met(q.findSuppressionUs.mean <= 50)}`,
    ]);
    rows.push([
      'mayMail, same',
      `mean ${q.mayMailUs.mean} µs`,
      `p50 ${q.mayMailUs.p50} µs, p99 ${q.mayMailUs.p99} µs`,
      `≤ 50 µs: ${met(q.mayMailUs.mean <= 50)}`,
    ]);
    rows.push([
      'admin page: 50 newest',
      `mean ${q.adminPageMs.mean} ms`,
      `p99 ${q.adminPageMs.p99} ms; next page p99 ${q.adminNextPageMs.p99} ms`,
      `≤ 20 ms: ${met(q.adminPageMs.p99 <= 20 && q.adminNextPageMs.p99 <= 20)}`,
    ]);
    rows.push([
      'admin page: by domain',
      `mean ${q.adminPageByDomainMs.mean} ms`,
      `p99 ${q.adminPageByDomainMs.p99} ms`,
      `≤ 20 ms: ${met(q.adminPageByDomainMs.p99 <= 20)}`,
    ]);
  }
  return rows;
}

/**
 * With --db=postgres: each SQLite row, then its PostgreSQL twin (rows that do not depend on the
 * engine, like the ceilings, once), then PostgreSQL's own rows and the ratios the issue asks for.
 */
function allRows(r: Record<string, any>): Row[] {
  const sqliteRows = goalRows(r);
  if (!r.postgres) return sqliteRows;
  const tag = (row: Row, engine: Engine): Row => [`${row[0]} · ${ENGINE_NAMES[engine]}`, row[1], row[2], row[3]];
  const pgRows = goalRows(r.postgres, 'postgres');
  const rows: Row[] = [];
  for (const row of sqliteRows) {
    const twin = pgRows.find((candidate) => candidate[0] === row[0]);
    if (!twin || twin.join() === row.join()) {
      rows.push(row);
      continue;
    }
    rows.push(tag(row, 'sqlite'), tag(twin, 'postgres'));
  }
  for (const row of pgRows) if (!sqliteRows.some((candidate) => candidate[0] === row[0])) rows.push(tag(row, 'postgres'));
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const sqliteApi = r.throughput?.serviceApiOnly;
  const pgApi = r.postgres.throughput?.serviceApiOnly;
  const pgTwo = r.postgres.throughput?.twoApiProcesses;
  if (sqliteApi && pgApi) {
    const ratio = round(pgApi.requestsPerSecond / sqliteApi.requestsPerSecond, 2);
    rows.push([
      'signup, PostgreSQL ÷ SQLite (one api process each)',
      `${ratio}×`,
      `${pgApi.requestsPerSecond} vs ${sqliteApi.requestsPerSecond} req/s; service CPU ${pgApi.serverCpuUsPerRequest} vs ${sqliteApi.serverCpuUsPerRequest} µs/req`,
      `≥ 0.6×: ${met(ratio >= 0.6)}`,
    ]);
  }
  if (pgApi && pgTwo) {
    const ratio = round(pgTwo.requestsPerSecond / pgApi.requestsPerSecond, 2);
    rows.push([
      'signup, 2 api processes ÷ 1 (PostgreSQL)',
      `${ratio}×`,
      `${pgTwo.requestsPerSecond} vs ${pgApi.requestsPerSecond} req/s; machine ${Math.round((pgTwo.machineBusyShare ?? 0) * 100)} % busy with 2 vs ${Math.round((pgApi.machineBusyShare ?? 0) * 100)} % with 1`,
      `≥ 1.3×: ${met(ratio >= 1.3)}`,
    ]);
  }
  return rows;
}

function printTable(rows: Row[]): void {
  const header: Row = ['measure', 'result', 'detail', 'goal'];
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i]!.length)));
  const line = (row: Row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
  for (const row of rows) console.log(line(row));
}

/**
 * The dashboard at a million contacts: seeded straight into the engine's tables, then a service
 * (api role) on them answers GET /admin/api/stats and the /admin page, timed one after the other.
 */
async function statsPhase(sink: BenchSink, engine: Engine) {
  const store = await newStore(serviceName('stats', engine), engine);
  try {
    const target = store.scratch ? { postgresUrl: store.scratch.url } : { sqliteFile: serviceEnv(sink, store).DATABASE_PATH! };
    const seed = await seedDashboard(target, STATS_CONTACTS);
    const uncachedInProcess = await timeUncachedStats(target);
    const adminToken = 'bench-admin-token-0123456789';
    const child = await startChild('./serviceProcess.ts', { args: ['api'], env: { ...serviceEnv(sink, store), ADMIN_TOKEN: adminToken } });
    try {
      const url = String(child.ready.url);
      const signIn = await fetch(`${url}/admin/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url },
        body: `token=${adminToken}`,
      });
      const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
      const bearer = { authorization: `Bearer ${adminToken}` };
      return {
        seed,
        uncachedInProcess,
        statsApi: await timeGets(`${url}/admin/api/stats?days=30`, bearer),
        statsApiOneList: await timeGets(`${url}/admin/api/stats?list=list3&days=30`, bearer),
        statsApiYear: await timeGets(`${url}/admin/api/stats?days=365`, bearer),
        dashboardPage: await timeGets(`${url}/admin`, { cookie }),
        subscribersPage: await timeGets(`${url}/admin/api/lists/list3/subscribers?limit=1000`, bearer),
      };
    } finally {
      await child.stop();
    }
  } finally {
    await dropStore(store);
  }
}

// ---- main ----------------------------------------------------------------------------------

const sink = await startBenchSink({ parse: !args.includes('--sink=count') });
const log = (what: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${what}`);
try {
  // SQLite's results stay where they always were; PostgreSQL's go under results.postgres.
  const postgresResults: Record<string, unknown> = {};
  if (engines.includes('postgres')) results.postgres = postgresResults;
  const store = (engine: Engine, phase: string, value: unknown) => {
    if (engine === 'sqlite') results[phase] = value;
    else postgresResults[phase] = value;
  };
  const onWhat = engines.map((engine) => ENGINE_NAMES[engine]).join(' and ');
  if (wanted('throughput')) {
    log(`signup throughput on ${onWhat}: ${CONNECTIONS} connections, ${THROUGHPUT_SECONDS} s each after ${WARMUP_SECONDS} s warm-up`);
    const byEngine = await throughputPhase(sink);
    for (const engine of engines) store(engine, 'throughput', byEngine[engine]);
  }
  if (wanted('delivery')) {
    log(`delivery rate on ${onWhat}: ${DELIVERY_SIGNUPS} signups to the sink, then raw nodemailer`);
    const byEngine = await deliveryPhase(sink);
    for (const engine of engines) store(engine, 'delivery', byEngine[engine]);
  }
  if (wanted('broadcast')) {
    log(
      `broadcast: ${BROADCAST_RECIPIENTS} recipients with the pace off, then raw nodemailer; memory while ${BROADCAST_MEMORY_RECIPIENTS} are queued (SQLite)`,
    );
    results.broadcast = await broadcastPhase(sink);
  }
  if (wanted('latency')) {
    for (const engine of engines) {
      log(`signup-to-inbox latency and CPU at ${PACED_RATE} signups/s on ${ENGINE_NAMES[engine]} (npm start)`);
      store(engine, 'latency', await pacedPhase(sink, engine, PACED_RATE, PACED_SIGNUPS, 'latency'));
    }
  }
  if (wanted('quiet')) {
    for (const engine of engines) {
      log(`CPU at a quiet ${QUIET_RATE} signups/s on ${ENGINE_NAMES[engine]} (npm start, ${QUIET_SIGNUPS} signups)`);
      store(engine, 'quiet', await pacedPhase(sink, engine, QUIET_RATE, QUIET_SIGNUPS, 'quiet'));
    }
  }
  if (wanted('stats')) {
    for (const engine of engines) {
      log(`dashboard at ${STATS_CONTACTS} contacts on ${ENGINE_NAMES[engine]}`);
      store(engine, 'stats', await statsPhase(sink, engine));
    }
  }
  if (wanted('render')) {
    log('template rendering');
    results.render = await benchRendering();
  }
  if (wanted('database')) {
    for (const engine of engines) {
      const bench: BenchEngine = engine === 'sqlite' ? sqliteEngine(workDir) : postgresEngine();
      const maxSeconds = engine === 'sqlite' ? Infinity : PG_DB_SIGNUP_SECONDS;
      log(
        `database on ${ENGINE_NAMES[engine]}: ${DB_SIGNUPS} signups${maxSeconds < Infinity ? ` (at most ${maxSeconds} s)` : ''}, then ${SUPPRESSION_ENTRIES} suppression entries`,
      );
      try {
        const signupInsert = await benchSignupInserts(bench, DB_SIGNUPS, maxSeconds);
        signupInsert.batchedPerSecond = await benchBatchedSignups(bench, DB_SIGNUPS, maxSeconds);
        store(engine, 'database', { signupInsert, suppression: await benchSuppressions(bench, SUPPRESSION_ENTRIES) });
      } finally {
        await bench.dropAll();
      }
    }
  }
} finally {
  await sink.close();
  rmSync(workDir, { recursive: true, force: true });
}
results.finishedAt = new Date().toISOString();
results.loadAverageAtEnd = loadavg().map((l) => round(l, 2));
const out = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
printTable(allRows(results));
console.log(`\nload average (1, 5, 15 min) at start ${results.loadAverageAtStart}, at end ${results.loadAverageAtEnd}`);
console.log(`written to ${path.relative(process.cwd(), out)}`);
if (saveAsBaseline) {
  saveBaseline([results], execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim());
  console.log(`baseline written to ${path.relative(process.cwd(), BASELINE_FILE)}: commit it on purpose`);
}
if (compare) {
  const baseline = readBaseline();
  if (!baseline) {
    console.error(`--compare: no ${path.relative(process.cwd(), BASELINE_FILE)}; record one with --save-baseline`);
    process.exit(2);
  }
  const rows = compareWithBaseline(results, baseline);
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${Math.round(x * 100)} %`;
  console.log(
    `\ncompared with bench/baseline.json (commit ${baseline.commit}, ${baseline.recordedAt}); worse by more than ${TOLERANCE * 100} % is a regression`,
  );
  for (const row of rows)
    console.log(
      `${row.fell ? 'FELL' : '    '} ${row.name.padEnd(40)} ${String(row.baseline).padStart(8)} → ${String(round(row.now, 2)).padStart(8)}  ${pct(row.change)}`,
    );
  const fell = rows.filter((row) => row.fell);
  if (rows.length === 0) console.log('no measure of this run is in the baseline');
  if (fell.length > 0) {
    console.log(`\n${fell.length} measure(s) fell more than their tolerance: ${fell.map((row) => row.name).join(', ')}`);
    process.exitCode = 1;
  } else console.log('\nnone fell more than its tolerance');
}
