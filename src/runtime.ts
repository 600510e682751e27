import type { Server } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { applyDataMigrations } from './dataMigrations.js';
import { openDatabaseFromConfig, type Database } from './platform/db/database.js';
import type { Express } from 'express';
import { createApp, createMetricsApp } from './app.js';
import { createLogger, type Logger } from './logger.js';
import { loadTemplates } from './platform/mail/templates.js';
import { messageContext } from './platform/mail/compose.js';
import { createMailer } from './platform/mail/transport.js';
import { dkimWarnings } from './platform/mail/dkim.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createMailQueue, type MailQueue } from './platform/queue/queues.js';
import { startOutboxRelay, type OutboxRelay } from './features/delivery/index.js';
import { startMailWorker, type MailWorker } from './features/delivery/index.js';
import { startExpirySweep } from './features/subscribers/index.js';
import { createSubscriptionService } from './subscriptionService.js';
import { createDoorCheck } from './features/signup/index.js';
import { domainChecker } from './platform/mail/domainCheck.js';
import { createWebhookQueue } from './features/webhooks-out/index.js';
import { startWebhookRelay } from './features/webhooks-out/index.js';
import { startWebhookWorker } from './features/webhooks-out/index.js';
import { metricsOffNote } from './features/monitoring/index.js';
import { createBroadcastRenderer, loadBroadcastLayouts } from './features/broadcasts/index.js';
import { createBroadcastService, startBroadcastScheduler, type BroadcastService } from './features/broadcasts/index.js';
import { BROADCAST_QUEUE } from './platform/queue/queues.js';
import type { Mailer } from './platform/mail/transport.js';

export type Role = 'api' | 'worker';

export interface Service {
  /** SQLite at DATABASE_PATH, or PostgreSQL at DATABASE_URL. */
  database: Database;
  queue: MailQueue;
  relay: OutboxRelay;
  /** Broadcasts: create, send, pause, resume, cancel, progress. */
  broadcasts: BroadcastService;
  logger: Logger;
  metrics: Metrics;
  /** Base URL the HTTP server listens on (api role only). */
  url: string | undefined;
  /** Base URL of the METRICS_PORT listener (any role), when METRICS_PORT is set. */
  metricsUrl: string | undefined;
  /**
   * Settles once the worker's first expiry sweep (a second after start) has ended, or the sweep
   * stopped; at once in a process without the worker role. The next round is SWEEP_INTERVAL away.
   */
  firstExpirySweep: Promise<void>;
  /**
   * Stops taking requests, lets in-flight sends finish, then closes Redis and the database. Every
   * part is closed even if one fails to; it then rejects, naming the parts that failed.
   */
  stop(): Promise<void>;
}

const RELAY_INTERVAL_MS = 2000;
/** The broadcast relay tops the paced queue up this often; the scheduler starts and finishes broadcasts this often. */
const BROADCAST_RELAY_INTERVAL_MS = 500;
const BROADCAST_SCHEDULER_INTERVAL_MS = 1000;

/**
 * BROADCAST_RATE_PER_MINUTE as BullMQ's limiter. Its window is fixed (a Redis counter that
 * expires `duration` after the window's first job), so a window of a whole second would let 10
 * go at once and a sliding second see up to 20; windows of about 100 ms keep the pace smooth
 * (600/min: 1 per 100 ms), stretched so the average is the rate (100/min: 1 per 600 ms). Null: no limit.
 */
export function broadcastLimiter(ratePerMinute: number): { max: number; duration: number } | null {
  if (ratePerMinute <= 0) return null;
  const max = Math.ceil(ratePerMinute / 600);
  return { max, duration: Math.round((60_000 * max) / ratePerMinute) };
}

/** How many broadcast messages the relay keeps in Redis: about ten seconds of work, so a pause holds soon and memory stays small. */
function broadcastWindow(ratePerMinute: number): number {
  return ratePerMinute > 0 ? Math.max(50, Math.ceil(ratePerMinute / 6)) : 5000;
}

/**
 * Closing order: first what takes in work (HTTP, the worker finishing the messages in hand, the
 * expiry sweep), together; then the relay, the queue, the SMTP pool and the database.
 */
const CLOSING_STAGES = ['intake', 'relay', 'queue', 'mailer', 'database'] as const;
type ClosingStage = (typeof CLOSING_STAGES)[number];

interface Part {
  name: string;
  stage: ClosingStage;
  close: () => unknown;
}

/**
 * Closes every part, each in its own try (as BullMQ's close() does): one that fails to close is
 * logged and the others are still closed. Rejects afterwards, naming the parts that failed.
 */
async function closeParts(parts: readonly Part[], logger: Logger): Promise<void> {
  const failed: { name: string; error: unknown }[] = [];
  for (const stage of CLOSING_STAGES) {
    await Promise.all(
      parts
        .filter((part) => part.stage === stage)
        .map(async (part) => {
          try {
            await part.close();
          } catch (error) {
            failed.push({ name: part.name, error });
            logger.error({ part: part.name, err: error }, 'could not close a part of the service; closing the others');
          }
        }),
    );
  }
  if (failed.length > 0) {
    throw new AggregateError(
      failed.map((f) => f.error),
      `could not close: ${failed.map((f) => f.name).join(', ')}`,
    );
  }
}

export async function startService(config: Config, roles: readonly Role[], logger = createLogger(config.logLevel)): Promise<Service> {
  // Each part is listed as soon as it runs, so a start-up that fails half-way closes what it had started.
  const parts: Part[] = [];
  try {
    return await startParts(config, roles, logger, parts);
  } catch (error) {
    await closeParts(parts, logger).catch(() => {
      // Each failure is logged already; the start-up error is the one to report.
    });
    throw error;
  }
}

async function startParts(config: Config, roles: readonly Role[], logger: Logger, parts: Part[]): Promise<Service> {
  // Refuses to start, with a sentence, when PostgreSQL cannot be reached or the schema is behind
  // and MIGRATE_ON_START=false; otherwise applies the schema migrations.
  const database = await openDatabaseFromConfig(config, {
    onIdleError: (error) => logger.warn({ err: error }, 'a pooled PostgreSQL connection failed while idle; the pool replaces it'),
  });
  parts.push({ name: 'database', stage: 'database', close: () => database.close() });
  // Data migrations need the secrets (suppression entries are keyed hashes), so they run here.
  for (const { name, summary } of await applyDataMigrations(database, config.secrets))
    logger.info({ migration: name, ...summary }, 'data migration applied');
  const redisServer = { url: config.redisUrl, cluster: config.redisCluster };
  const queue = createMailQueue(redisServer, config.queuePrefix, { attempts: config.sendAttempts, backoffMs: config.sendBackoffMs });
  parts.push({ name: 'queue', stage: 'queue', close: () => queue.close() });
  const metrics = createMetrics();
  const relay = startOutboxRelay(database, queue.queue, logger, {
    intervalMs: RELAY_INTERVAL_MS,
    rehandAfterMs: config.outboxRehandMs,
    connection: queue.redis,
  });
  parts.push({ name: 'outbox relay', stage: 'relay', close: () => relay.stop() });
  // Outbound webhooks: their own queue and relay (docs/webhooks.md); the deliveries are written by recordChanges.
  const webhookPolicy = { backoffMs: config.webhookBackoffMs, horizonMs: config.webhookRetryHorizonMs, timeoutMs: config.webhookTimeoutMs };
  const webhookQueue = createWebhookQueue(redisServer, config.queuePrefix, webhookPolicy);
  parts.push({ name: 'webhook queue', stage: 'queue', close: () => webhookQueue.close() });
  const webhookRelay = startWebhookRelay(database, webhookQueue.queue, logger, {
    intervalMs: config.webhookRelayIntervalMs,
    rehandAfterMs: config.outboxRehandMs,
    connection: webhookQueue.redis,
  });
  parts.push({ name: 'webhook relay', stage: 'relay', close: () => webhookRelay.stop() });
  // The one place signups, confirmations and opt-outs are written; it hands what they queue to the relay after each commit.
  const door = createDoorCheck({
    blockDisposable: config.blockDisposable,
    domains: config.checkMx
      ? domainChecker({
          servers: config.dnsServers,
          // Not a refusal: the address goes through, and the operator sees the resolver's trouble.
          onFailure: (domain, code) => {
            logger.warn({ domain, code }, 'domain check had no definite answer; the signup goes through');
            metrics.domainCheckFailures.inc({ code });
          },
        })
      : undefined,
    onRefusal: (code) => metrics.signupRefusals.inc({ code }),
  });
  const subscriptions = createSubscriptionService({ database, secrets: config.secrets, relay, confirmLimits: config.confirmLimits, door });
  const broadcastLayouts = await loadBroadcastLayouts();
  // Test sends need SMTP in an API-only process too: one pool, opened on the first send (or the worker's).
  let mailerInUse: Mailer | undefined;
  const sharedMailer = () => {
    if (!mailerInUse) {
      const opened = createMailer(config.smtpUrl, path.join(config.dataDir, 'mail'), logger, config.dkim);
      parts.push({ name: 'mailer', stage: 'mailer', close: () => opened.close() });
      mailerInUse = opened;
    }
    return mailerInUse;
  };
  const broadcasts = createBroadcastService({
    database,
    layouts: broadcastLayouts,
    // Broadcasts bring their own templates; the messages context gives the sender, site and links.
    messages: messageContext(config, new Map()),
    logger,
    mailer: sharedMailer,
  });

  let firstExpirySweep = Promise.resolve();
  if (roles.includes('worker')) {
    const expirySweep = startExpirySweep(
      database,
      config.secrets,
      logger,
      config.sweepIntervalMs,
      config.optOutRetentionMs,
      config.confirmReminderAfterMs,
      config.outboxRetentionMs,
    );
    firstExpirySweep = expirySweep.firstRound;
    parts.push({ name: 'expiry sweep', stage: 'intake', close: () => expirySweep.stop() });
    const templates = await loadTemplates();
    const mailer = sharedMailer();
    if (config.production) for (const warning of dkimWarnings(config.dkim, config.mailFrom)) logger.warn(warning);
    const deliveryDeps = {
      database,
      mailer,
      logger,
      metrics,
      messages: messageContext(config, templates),
      confirmLimits: config.confirmLimits,
      broadcasts: createBroadcastRenderer(broadcastLayouts, { preferences: true }),
    };
    const workerOptions = {
      redis: redisServer,
      prefix: config.queuePrefix,
      concurrency: config.workerConcurrency,
      lockMs: config.sendLockMs,
      backoffMs: config.sendBackoffMs,
    };
    const worker: MailWorker = startMailWorker(deliveryDeps, workerOptions);
    // The worker finishes the messages in hand before it lets go.
    parts.push({ name: 'mail worker', stage: 'intake', close: () => worker.close() });
    const webhookWorker = startWebhookWorker(
      {
        database,
        logger,
        policy: webhookPolicy,
        network: { production: config.production, allowPrivate: config.webhookAllowPrivate },
        // An endpoint sending its backlog in order gets its next delivery as soon as one ends.
        handNext: () => void webhookRelay.sweep().catch(() => {}),
      },
      { redis: redisServer, prefix: config.queuePrefix, concurrency: config.workerConcurrency, lockMs: config.sendLockMs },
    );
    parts.push({ name: 'webhook worker', stage: 'intake', close: () => webhookWorker.close() });

    // Broadcasts: their own queue, paced by BullMQ's limiter (counted in Redis, so shared by
    // every worker), fed a few seconds of work at a time by their own relay.
    const broadcastQueue = createMailQueue(
      redisServer,
      config.queuePrefix,
      { attempts: config.sendAttempts, backoffMs: config.sendBackoffMs },
      BROADCAST_QUEUE,
    );
    parts.push({ name: 'broadcast queue', stage: 'queue', close: () => broadcastQueue.close() });
    const window = broadcastWindow(config.broadcastRatePerMinute);
    const broadcastRelay = startOutboxRelay(database, broadcastQueue.queue, logger, {
      intervalMs: BROADCAST_RELAY_INTERVAL_MS,
      rehandAfterMs: config.outboxRehandMs,
      connection: broadcastQueue.redis,
      rows: 'broadcasts',
      async capacity() {
        const counts = await broadcastQueue.queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
        return window - Object.values(counts).reduce((sum, n) => sum + n, 0);
      },
    });
    parts.push({ name: 'broadcast relay', stage: 'relay', close: () => broadcastRelay.stop() });
    const limiter = broadcastLimiter(config.broadcastRatePerMinute);
    const broadcastWorker = startMailWorker(deliveryDeps, {
      ...workerOptions,
      queueName: BROADCAST_QUEUE,
      ...(limiter ? { limiter } : {}),
    });
    parts.push({ name: 'broadcast worker', stage: 'intake', close: () => broadcastWorker.close() });
    const scheduler = startBroadcastScheduler(broadcasts, logger, BROADCAST_SCHEDULER_INTERVAL_MS);
    parts.push({ name: 'broadcast scheduler', stage: 'intake', close: () => scheduler.stop() });
  }

  const appDeps = { database, subscriptions, broadcasts, config, relay, redis: queue.redis, logger, metrics, queue: queue.queue };
  let url: string | undefined;
  if (roles.includes('api')) {
    const server = await listen(createApp(appDeps), config.port, config.host);
    // Stops taking requests at once; answers in progress finish.
    parts.push({ name: 'HTTP server', stage: 'intake', close: () => closeServer(server) });
    url = baseUrl(server);
    logger.info({ url, publicUrl: config.publicUrl }, 'HTTP API listening');
    const metricsOff = metricsOffNote(config);
    if (metricsOff) logger.warn(metricsOff);
  }
  // A worker-only process serves its metrics (its sends) this way too.
  let metricsUrl: string | undefined;
  if (config.metricsPort !== undefined) {
    const metricsServer = await listen(createMetricsApp(appDeps), config.metricsPort, config.host);
    parts.push({ name: 'metrics server', stage: 'intake', close: () => closeServer(metricsServer) });
    metricsUrl = baseUrl(metricsServer);
    logger.info({ url: metricsUrl }, '/metrics listening on its own port');
  }
  // Anything a previous run left in the outbox is handed over when the queue's Redis connection
  // becomes ready (the relay sweeps everything on each connect).

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= closeParts(parts, logger));

  return { database, queue, relay, broadcasts, logger, metrics, url, metricsUrl, firstExpirySweep, stop };
}

function listen(app: Express, port: number, host: string): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const listening = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
}

/** The URL to reach a listening server at (127.0.0.1 when it listens on every interface). */
function baseUrl(server: Server): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
