import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startService, type Role, type Service } from '../../src/runtime.js';
import { waitFor } from './http.js';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from './smtpSink.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_SECRET = 'test-secret-0123456789abcdef';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const ADMIN_AUTH = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

export interface TestService {
  url: string;
  smtp: SmtpSink;
  service: Service;
  config: Config;
  /** Stops the service and the SMTP server, and removes the test's Redis keys and files. */
  stop(): Promise<void>;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  roles?: Role[];
  smtp?: SmtpSinkOptions;
  /** Reuse an SMTP sink (for several services sharing one inbox). */
  sink?: SmtpSink;
  /** Reuse a data folder (to restart a service on the same database). */
  dataDir?: string;
}

/** Runs the real service in the test process: real Redis, a real SMTP server, a fresh SQLite file. */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const smtp = options.sink ?? (await startSmtpSink(options.smtp));
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'optin-test-'));
  const queuePrefix = options.env?.QUEUE_PREFIX ?? `test-${randomUUID()}`;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_PATH: path.join(dataDir, 'optin.db'),
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    SMTP_URL: smtp.url,
    MAIL_FROM: 'optin test <news@example.org>',
    SECRET: TEST_SECRET,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    PUBLIC_URL: 'http://optin.test',
    SEND_BACKOFF_MS: '200',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Every test posts from 127.0.0.1 and some sign one address up again and again: abuse limits
    // are off by default; tests of the limits set them explicitly.
    RATE_LIMIT_PER_MINUTE: '0',
    CONFIRM_COOLDOWN: '0',
    CONFIRM_MAX: '0',
    ADMIN_AUTH_FAILURES_PER_15M: '0',
    ...options.env,
  });
  const service = await startService(config, options.roles ?? ['api', 'worker'], createLogger(config.logLevel));
  return {
    url: service.url ?? '',
    smtp,
    service,
    config,
    async stop() {
      await service.stop();
      if (!options.sink) await smtp.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
      await deleteRedisKeys(`${queuePrefix}:*`);
    },
  };
}

export async function deleteRedisKeys(pattern: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * A worker-only service beside an API-only one: same database, queue prefix and SMTP sink.
 * Starting it later than the API lets a test change things while messages wait in the queue.
 */
export function startWorkerBeside(api: TestService, env: Record<string, string> = {}): Promise<TestService> {
  return startTestService({
    roles: ['worker'],
    sink: api.smtp,
    dataDir: path.dirname(api.config.databasePath),
    env: { QUEUE_PREFIX: api.config.queuePrefix, ...env },
  });
}

/** The path of the first .eml file a service without SMTP_URL writes to its mail drop. */
export function firstDroppedMail(t: TestService, timeoutMs = 5000): Promise<string> {
  const folder = path.join(t.config.dataDir, 'mail');
  return waitFor(
    () => {
      try {
        const file = readdirSync(folder).find((name) => name.endsWith('.eml'));
        return file && path.join(folder, file);
      } catch {
        return undefined;
      }
    },
    timeoutMs,
    'an .eml file',
  );
}
