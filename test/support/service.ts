import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabaseFromConfig, type Database } from '../../src/platform/db/database.js';
import { createLogger } from '../../src/logger.js';
import { startService, type Role, type Service } from '../../src/runtime.js';
import { waitFor } from './http.js';
import { dropFolderDatabase, folderDatabase, TEST_ON_POSTGRES } from './postgres.js';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from './smtpSink.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_SECRET = 'test-secret-0123456789abcdef';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const ADMIN_AUTH = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** Signs in to the admin console as a browser does, and gives the session cookie (`name=value`). */
export async function consoleCookie(url: string, token: string = TEST_ADMIN_TOKEN): Promise<string> {
  const signIn = await fetch(`${url}/admin/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ token }).toString(),
    redirect: 'manual',
  });
  const cookie = signIn.headers.get('set-cookie')?.split(';')[0];
  if (signIn.status !== 303 || !cookie) throw new Error(`console sign-in answered ${signIn.status} without a session`);
  return cookie;
}

export interface TestService {
  url: string;
  smtp: SmtpSink;
  service: Service;
  config: Config;
  /** Stops the service and the SMTP server, and removes the test's Redis keys, files and database. */
  stop(): Promise<void>;
}

/**
 * Waits until the worker's first expiry sweep round (a second after start) has ended. The next
 * is SWEEP_INTERVAL (an hour) away, so a test may then make a request lapse by hand without the
 * sweep deleting it underneath.
 */
export async function firstSweepDone(t: TestService): Promise<void> {
  await t.service.firstExpirySweep;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  roles?: Role[];
  smtp?: SmtpSinkOptions;
  /** Reuse an SMTP sink (for several services sharing one inbox). */
  sink?: SmtpSink;
  /** Reuse a data folder (to restart a service on the same database). */
  dataDir?: string;
  /** Where the service's log lines go instead of stdout (see captureLogs); set LOG_LEVEL in env to see them. */
  logTo?: { write(line: string): void };
}

/**
 * Where a service on dataDir keeps its data: the SQLite file in the folder, and in the
 * `postgres` project (TEST_DATABASE=postgres) the folder's own PostgreSQL database, created
 * when absent (see folderDatabase). An explicit DATABASE_URL in env is left as it is.
 */
export async function databaseEnv(dataDir: string, env: Record<string, string> = {}): Promise<Record<string, string>> {
  const settings: Record<string, string> = { DATABASE_PATH: path.join(dataDir, 'optin.db') };
  if (TEST_ON_POSTGRES && !('DATABASE_URL' in env)) settings.DATABASE_URL = await folderDatabase(dataDir);
  return settings;
}

/**
 * The database a service on dataDir uses, opened (and migrated) as the service opens it: for
 * preparing data before a start, or reading beside a service in another process. Close it.
 */
export async function openTestDatabase(dataDir: string): Promise<Database> {
  return openDatabaseFromConfig(loadConfig({ ...(await databaseEnv(dataDir)), SECRET: TEST_SECRET, LOG_LEVEL: 'silent' }));
}

/** Removes a data folder a test made itself, and in the `postgres` project the folder's database. */
export async function removeDataDir(dataDir: string): Promise<void> {
  if (TEST_ON_POSTGRES) await dropFolderDatabase(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
}

/**
 * What every test's service is told, whether it runs in the test process or as a child: the
 * shared Redis with the test's own prefix, the test's SMTP sink, the test secret and sender.
 * Every signup comes from 127.0.0.1, so the per-IP limit is off (tests of it set it).
 */
export function testServiceEnv(options: { queuePrefix: string; smtpUrl: string }): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    REDIS_URL,
    QUEUE_PREFIX: options.queuePrefix,
    SMTP_URL: options.smtpUrl,
    MAIL_FROM: 'optin test <news@example.org>',
    SECRET: TEST_SECRET,
    PUBLIC_URL: 'http://optin.test',
    SEND_BACKOFF_MS: '200',
    RATE_LIMIT_PER_MINUTE: '0',
  };
}

/**
 * Runs the real service in the test process: real Redis, a real SMTP server, a fresh database
 * (a SQLite file, or in the `postgres` project a PostgreSQL database of its own).
 */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const smtp = options.sink ?? (await startSmtpSink(options.smtp));
  const ownsDataDir = !options.dataDir;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'optin-test-'));
  const queuePrefix = options.env?.QUEUE_PREFIX ?? `test-${randomUUID()}`;
  const database = await databaseEnv(dataDir, options.env);
  // The folder's database goes with the folder; a folder the test brought (a restart, a worker
  // beside an API) keeps it for the next service on it.
  const ownsDatabase = ownsDataDir && database.DATABASE_URL !== undefined;
  const cleanUp = async () => {
    if (!options.sink) await smtp.close();
    if (ownsDatabase) await dropFolderDatabase(dataDir);
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    await deleteRedisKeys(`${queuePrefix}:*`);
  };
  let service: Service;
  let config: Config;
  try {
    config = loadConfig({
      PORT: '0',
      ...testServiceEnv({ queuePrefix, smtpUrl: smtp.url }),
      ...database,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      // Some tests sign one address up again and again: the other abuse limits are off by
      // default too; tests of the limits set them explicitly.
      CONFIRM_COOLDOWN: '0',
      CONFIRM_MAX: '0',
      ADMIN_AUTH_FAILURES_PER_15M: '0',
      ...options.env,
    });
    service = await startService(config, options.roles ?? ['api', 'worker'], createLogger(config.logLevel, options.logTo));
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return {
    url: service.url ?? '',
    smtp,
    service,
    config,
    async stop() {
      await service.stop();
      await cleanUp();
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
    dataDir: api.config.dataDir,
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
