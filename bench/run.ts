// npm run bench [-- --only=throughput,delivery,latency,render,database] [--profile]
// See "Performance" in README.md for what each number means and what limits it.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { deleteRedisKeys, REDIS_URL } from '../test/support/service.js';
import { PROFILE_DIR, startChild, type Child } from './child.js';
import { benchBatchedSignups, benchSignupInserts, benchSuppressions } from './database.js';
import { benchRendering } from './render.js';
import { startBenchSink, type BenchSink } from './sink.js';
import { clock, percentile, round } from './stats.js';

const args = process.argv.slice(2);
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const profile = args.includes('--profile');
const wanted = (phase: string) => !only || only.includes(phase);

const CONNECTIONS = 32;
const THROUGHPUT_SECONDS = 10;
const WARMUP_SECONDS = 3;
const DELIVERY_SIGNUPS = 2000;
const PACED_RATE = 200;
const PACED_SIGNUPS = 2000;
const SUPPRESSION_ENTRIES = 1_000_000;
const DB_SIGNUPS = 100_000;

if (profile) rmSync(PROFILE_DIR, { recursive: true, force: true });
const workDir = mkdtempSync(path.join(tmpdir(), 'optin-bench-'));
const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, platform: `${process.platform} ${process.arch}` },
  setup:
    'load generator (autocannon / paced client) and SMTP sink in the bench process; the service, the bare express ceiling ' +
    'and the raw nodemailer ceiling each in their own child process; Redis local',
  startedAt: new Date().toISOString(),
  // Anything else running on the machine shows here; the numbers are only comparable when it is low.
  loadAverageAtStart: loadavg().map((l) => round(l, 2)),
};

// ---- helpers -------------------------------------------------------------------------------

let addressCounter = 0;
const signupBody = (prefix: string) => JSON.stringify({ email: `${prefix}-${addressCounter++}@example.com` });

/** BENCH_SMTP_QUERY (e.g. maxConnections=10) tunes the pool of the service and of raw nodemailer alike. */
const smtpUrl = (sink: BenchSink) => (process.env.BENCH_SMTP_QUERY ? `${sink.url}?${process.env.BENCH_SMTP_QUERY}` : sink.url);

function serviceEnv(sink: BenchSink, name: string): Record<string, string> {
  const dataDir = path.join(workDir, name);
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_PATH: path.join(dataDir, 'optin.db'),
    REDIS_URL,
    QUEUE_PREFIX: `bench-${name}-${randomUUID()}`,
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

async function startService(sink: BenchSink, name: string, roles: string): Promise<{ child: Child; url: string; prefix: string }> {
  const env = serviceEnv(sink, name);
  const child = await startChild('./serviceProcess.ts', { args: [roles], env, profile: profile ? `service-${name}` : undefined });
  return { child, url: String(child.ready.url), prefix: env.QUEUE_PREFIX! };
}

async function stopService(service: { child: Child; prefix: string }): Promise<void> {
  await service.child.stop();
  await deleteRedisKeys(`${service.prefix}:*`);
}

async function cannon(url: string, prefix: string, options: { duration?: number; amount?: number }) {
  const result = await autocannon({
    url: `${url}/subscribe`,
    connections: CONNECTIONS,
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

async function measureThroughput(server: Child, url: string, prefix: string) {
  await cannon(url, `${prefix}-warm`, { duration: WARMUP_SECONDS });
  const cpuBefore = await server.cpuMs();
  const result = await cannon(url, prefix, { duration: THROUGHPUT_SECONDS });
  const cpuMs = (await server.cpuMs()) - cpuBefore;
  return { ...result, serverCpuUsPerRequest: Math.round((cpuMs * 1000) / result.requests) };
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

async function throughputPhase(sink: BenchSink) {
  const bare = await startChild('./bareProcess.ts');
  const bareResult = await measureThroughput(bare, String(bare.ready.url), 'bare');
  await bare.stop();

  const api = await startService(sink, 'throughput-api', 'api');
  const apiResult = await measureThroughput(api.child, api.url, 'api');
  await stopService(api);

  sink.reset();
  const both = await startService(sink, 'throughput-both', 'api,worker');
  const bothResult = await measureThroughput(both.child, both.url, 'both');
  await stopService(both);
  sink.reset();

  return {
    bareExpress: bareResult,
    serviceApiOnly: { ...apiResult, ratioToBare: round(apiResult.requestsPerSecond / bareResult.requestsPerSecond, 2) },
    serviceApiAndWorker: { ...bothResult, ratioToBare: round(bothResult.requestsPerSecond / bareResult.requestsPerSecond, 2) },
  };
}

async function deliveryPhase(sink: BenchSink) {
  sink.reset();
  const service = await startService(sink, 'delivery', 'api,worker');
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

  sink.reset();
  const raw = await startChild('./rawSender.ts', { args: [smtpUrl(sink), String(DELIVERY_SIGNUPS + 200), 'rawwarm'] });
  raw.process.send({ type: 'go' });
  await sink.waitForCount(DELIVERY_SIGNUPS + 200, 120_000);
  await raw.stop();
  sink.reset();
  const rawRun = await startChild('./rawSender.ts', { args: [smtpUrl(sink), String(DELIVERY_SIGNUPS), 'raw'] });
  const rawDone = new Promise<{ start: number }>((resolve) => rawRun.process.on('message', (m: { type: string; start: number }) => m.type === 'done' && resolve(m)));
  const rawCpuBefore = await rawRun.cpuMs();
  rawRun.process.send({ type: 'go' });
  const { start: rawStart } = await rawDone;
  await sink.waitForCount(DELIVERY_SIGNUPS, 120_000);
  const rawSeconds = (clock() - rawStart) / 1000;
  const rawCpuMs = (await rawRun.cpuMs()) - rawCpuBefore;
  await rawRun.stop();
  sink.reset();

  const servicePerSecond = round(DELIVERY_SIGNUPS / serviceSeconds, 0);
  const rawPerSecond = round(DELIVERY_SIGNUPS / rawSeconds, 0);
  return {
    messages: DELIVERY_SIGNUPS,
    service: {
      perSecond: servicePerSecond,
      seconds: round(serviceSeconds, 2),
      signupSeconds: round((signupsDone - start) / 1000, 2),
      signupNon2xx: signups.non2xx,
      // Signup and delivery together, in the service process.
      cpuUsPerMessage: Math.round((serviceCpuMs * 1000) / DELIVERY_SIGNUPS),
    },
    rawNodemailer: { perSecond: rawPerSecond, seconds: round(rawSeconds, 2), cpuUsPerMessage: Math.round((rawCpuMs * 1000) / DELIVERY_SIGNUPS) },
    ratioToRaw: round(servicePerSecond / rawPerSecond, 2),
  };
}

async function latencyPhase(sink: BenchSink) {
  sink.reset();
  const service = await startService(sink, 'latency', 'api,worker');
  await pacedSignups(service.url, 'latency-warm', PACED_RATE, 400);
  await sink.waitForCount(400, 30_000);
  sink.reset();
  const cpuBefore = await service.child.cpuMs();
  const wallStart = clock();
  const run = await pacedSignups(service.url, 'latency', PACED_RATE, PACED_SIGNUPS);
  await sink.waitForCount(PACED_SIGNUPS, 60_000).catch(() => {});
  // How much of one core the service needed: near 1 means it was the bottleneck.
  const serviceCoreShare = ((await service.child.cpuMs()) - cpuBefore) / (clock() - wallStart);
  await stopService(service);
  const latencies: number[] = [];
  for (const [email, sent] of run.sentAt) {
    const arrived = sink.arrivals.get(email);
    if (arrived !== undefined) latencies.push(arrived - sent);
  }
  sink.reset();
  return {
    rate: PACED_RATE,
    achievedRate: run.achievedRate,
    signups: PACED_SIGNUPS,
    delivered: latencies.length,
    failedSignups: run.failures.length,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(percentile(latencies, 100)),
    serviceCoreShare: round(serviceCoreShare, 2),
  };
}

// ---- report --------------------------------------------------------------------------------

type Row = [string, string, string, string];

function goalRows(r: Record<string, any>): Row[] {
  const rows: Row[] = [];
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  if (r.throughput) {
    const t = r.throughput;
    rows.push(['bare express ceiling', `${t.bareExpress.requestsPerSecond} req/s`, `p50 ${t.bareExpress.latencyP50Ms} ms, p99 ${t.bareExpress.latencyP99Ms} ms, ${t.bareExpress.serverCpuUsPerRequest} µs CPU/req`, '']);
    for (const [label, s] of [['signup (api process)', t.serviceApiOnly], ['signup (api+worker process)', t.serviceApiAndWorker]] as const) {
      rows.push([
        label,
        `${s.requestsPerSecond} req/s (${Math.round(s.ratioToBare * 100)} % of bare)`,
        `p50 ${s.latencyP50Ms} ms, p99 ${s.latencyP99Ms} ms, non-2xx ${s.non2xx}, errors ${s.errors}, ${s.serverCpuUsPerRequest} µs CPU/req`,
        `≥ 50 %, 0 errors: ${met(s.ratioToBare >= 0.5 && s.non2xx === 0 && s.errors === 0)}`,
      ]);
    }
  }
  if (r.delivery) {
    const d = r.delivery;
    rows.push(['raw pooled nodemailer', `${d.rawNodemailer.perSecond} msg/s`, `${d.messages} messages in ${d.rawNodemailer.seconds} s, ${d.rawNodemailer.cpuUsPerMessage} µs CPU/msg`, '']);
    rows.push([
      'delivery, signup → sink',
      `${d.service.perSecond} msg/s (${Math.round(d.ratioToRaw * 100)} % of raw)`,
      `${d.messages} in ${d.service.seconds} s (signups took ${d.service.signupSeconds} s), ${d.service.cpuUsPerMessage} µs CPU/msg`,
      `≥ 70 %: ${met(d.ratioToRaw >= 0.7)}`,
    ]);
  }
  if (r.latency) {
    const l = r.latency;
    rows.push([
      `signup → inbox at ${l.rate}/s`,
      `p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms`,
      `max ${l.maxMs} ms, ${l.delivered}/${l.signups} delivered, paced at ${l.achievedRate}/s, service used ${Math.round(l.serviceCoreShare * 100)} % of a core`,
      `p50 ≤ 50, p99 ≤ 250: ${met(l.p50Ms <= 50 && l.p99Ms <= 250 && l.delivered === l.signups)}`,
    ]);
  }
  if (r.render) {
    const m = r.render;
    rows.push(['render precompiled vs mjml2html', `${m.precompiledUs} µs vs ${m.mjml2htmlUs} µs`, `${m.ratio}× cheaper`, `≥ 100×: ${met(m.ratio >= 100)}`]);
  }
  if (r.database) {
    const s = r.database.signupInsert;
    const q = r.database.suppression;
    rows.push(['signup insert (one transaction each)', `${s.perSecond} signups/s`, `${s.signups} signups, ${s.mbPerMillionContacts} MB per million contacts`, '']);
    rows.push(['signup insert (group commit, 32 at once)', `${s.batchedPerSecond} signups/s`, 'createSignupBatcher, as POST /subscribe under load', '']);
    rows.push([
      `findSuppression, ${q.entries} entries`,
      `mean ${q.findSuppressionUs.mean} µs`,
      `p50 ${q.findSuppressionUs.p50} µs, p99 ${q.findSuppressionUs.p99} µs`,
      `≤ 50 µs: ${met(q.findSuppressionUs.mean <= 50)}`,
    ]);
    rows.push(['mayMail, same', `mean ${q.mayMailUs.mean} µs`, `p50 ${q.mayMailUs.p50} µs, p99 ${q.mayMailUs.p99} µs`, `≤ 50 µs: ${met(q.mayMailUs.mean <= 50)}`]);
    rows.push(['admin page: 50 newest', `mean ${q.adminPageMs.mean} ms`, `p99 ${q.adminPageMs.p99} ms; next page p99 ${q.adminNextPageMs.p99} ms`, `≤ 20 ms: ${met(q.adminPageMs.p99 <= 20 && q.adminNextPageMs.p99 <= 20)}`]);
    rows.push(['admin page: by domain', `mean ${q.adminPageByDomainMs.mean} ms`, `p99 ${q.adminPageByDomainMs.p99} ms`, `≤ 20 ms: ${met(q.adminPageByDomainMs.p99 <= 20)}`]);
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

// ---- main ----------------------------------------------------------------------------------

const sink = await startBenchSink();
const log = (what: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${what}`);
try {
  if (wanted('throughput')) {
    log(`signup throughput: ${CONNECTIONS} connections, ${THROUGHPUT_SECONDS} s each after ${WARMUP_SECONDS} s warm-up`);
    results.throughput = await throughputPhase(sink);
  }
  if (wanted('delivery')) {
    log(`delivery rate: ${DELIVERY_SIGNUPS} signups to the sink, then raw nodemailer`);
    results.delivery = await deliveryPhase(sink);
  }
  if (wanted('latency')) {
    log(`signup-to-inbox latency at ${PACED_RATE} signups/s`);
    results.latency = await latencyPhase(sink);
  }
  if (wanted('render')) {
    log('template rendering');
    results.render = await benchRendering();
  }
  if (wanted('database')) {
    log(`database: ${DB_SIGNUPS} signups, then ${SUPPRESSION_ENTRIES} suppression entries`);
    const signupInsert = benchSignupInserts(workDir, DB_SIGNUPS);
    signupInsert.batchedPerSecond = await benchBatchedSignups(workDir, DB_SIGNUPS);
    results.database = { signupInsert, suppression: benchSuppressions(workDir, SUPPRESSION_ENTRIES) };
  }
} finally {
  await sink.close();
  rmSync(workDir, { recursive: true, force: true });
}
results.finishedAt = new Date().toISOString();
results.loadAverageAtEnd = loadavg().map((l) => round(l, 2));
const out = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
printTable(goalRows(results));
console.log(`\nload average (1, 5, 15 min) at start ${results.loadAverageAtStart}, at end ${results.loadAverageAtEnd}`);
console.log(`written to ${path.relative(process.cwd(), out)}`);
