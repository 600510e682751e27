import type { Server } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { closeDatabase, openDatabase, type Db } from './db/client.js';
import { createApp } from './http/app.js';
import { createLogger, type Logger } from './logger.js';
import { loadTemplates } from './mail/templates.js';
import { createMailer } from './mail/transport.js';
import { dkimWarnings } from './mail/dkim.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createMailQueue, type MailQueue } from './queue/mailQueue.js';
import { startOutboxRelay, type OutboxRelay } from './queue/relay.js';
import { startMailWorker, type MailWorker } from './queue/worker.js';
import { startExpirySweep } from './queue/expirySweep.js';

export type Role = 'api' | 'worker';

export interface Service {
  db: Db;
  queue: MailQueue;
  relay: OutboxRelay;
  logger: Logger;
  metrics: Metrics;
  /** Base URL the HTTP server listens on (api role only). */
  url: string | undefined;
  /** Stops taking requests, lets in-flight sends finish, then closes Redis and the database. */
  stop(): Promise<void>;
}

const RELAY_INTERVAL_MS = 2000;

export async function startService(config: Config, roles: readonly Role[], logger = createLogger(config.logLevel)): Promise<Service> {
  const db = openDatabase(config.databasePath);
  const queue = createMailQueue(config.redisUrl, config.queuePrefix, { attempts: config.sendAttempts, backoffMs: config.sendBackoffMs });
  const metrics = createMetrics();
  const relay = startOutboxRelay(db, queue.queue, logger, {
    intervalMs: RELAY_INTERVAL_MS,
    rehandAfterMs: config.outboxRehandMs,
    connection: queue.redis,
  });

  let worker: MailWorker | undefined;
  let mailerClose: (() => void) | undefined;
  let expirySweep: { stop(): void } | undefined;
  if (roles.includes('worker')) {
    expirySweep = startExpirySweep(db, config.secrets, logger);
    const templates = await loadTemplates();
    const mailer = createMailer(config.smtpUrl, path.join(config.dataDir, 'mail'), logger, config.dkim);
    if (config.production) for (const warning of dkimWarnings(config.dkim, config.mailFrom)) logger.warn(warning);
    mailerClose = () => mailer.close();
    worker = startMailWorker(
      { db, mailer, logger, metrics, messages: { publicUrl: config.publicUrl, mailFrom: config.mailFrom, secrets: config.secrets, templates }, confirmLimits: config.confirmLimits },
      { redisUrl: config.redisUrl, prefix: config.queuePrefix, concurrency: config.workerConcurrency, lockMs: config.sendLockMs },
    );
  }

  let server: Server | undefined;
  let url: string | undefined;
  if (roles.includes('api')) {
    const app = createApp({ db, config, relay, redis: queue.redis, logger, metrics, queue: queue.queue });
    server = await new Promise<Server>((resolve, reject) => {
      const listening = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(listening)));
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
    logger.info({ url, publicUrl: config.publicUrl }, 'HTTP API listening');
  }
  // Anything a previous run left in the outbox is handed over when the queue's Redis connection
  // becomes ready (the relay sweeps everything on each connect).

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop taking requests and new jobs at once; the worker finishes the messages in hand.
      const serverClosed = server
        ? new Promise<void>((resolve) => {
            server!.close(() => resolve());
            server!.closeIdleConnections();
          })
        : Promise.resolve();
      expirySweep?.stop();
      await Promise.all([serverClosed, worker?.close()]);
      await relay.stop();
      await queue.close();
      mailerClose?.();
      closeDatabase(db);
    })());

  return { db, queue, relay, logger, metrics, url, stop };
}
