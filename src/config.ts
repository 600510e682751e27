import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { dkimKey, isDkimDomain, isDkimSelector, pemBlocks, type DkimConfig, type DkimKey } from './platform/mail/dkim.js';
import { senderAddress, senderDomain, withDisplayName } from './platform/mail/sender.js';

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  databasePath: string;
  /** PostgreSQL connection URL (DATABASE_URL); unset: the SQLite file at databasePath. */
  databaseUrl: string | undefined;
  /** Most PostgreSQL connections this process opens (DATABASE_POOL_MAX). */
  databasePoolMax: number;
  /** PostgreSQL statement_timeout per connection, in ms (0: none). */
  databaseStatementTimeoutMs: number;
  /** Apply pending schema migrations at start; false: refuse to start when they are behind. */
  migrateOnStart: boolean;
  /** Folder beside the database for generated state: the dev secret and the .eml mail drop. */
  dataDir: string;
  redisUrl: string;
  /** REDIS_CLUSTER: REDIS_URL is the seed node of a Redis Cluster. */
  redisCluster: boolean;
  queuePrefix: string;
  smtpUrl: string | undefined;
  /** The From of every mail: MAIL_FROM, with SITE_NAME as its display name when MAIL_FROM has none. */
  mailFrom: string;
  /** REPLY_TO: where replies go; unset: no Reply-To header (replies go to mailFrom). */
  replyTo: string | undefined;
  /** The site people sign up on, named in every mail and page. */
  site: Site;
  /** DKIM signing of every message; unset: mail goes out unsigned (a production start warns). */
  dkim: DkimConfig | undefined;
  /** Resolvers the sending-setup check asks (host or host:port); empty: the system's. */
  dnsServers: string[];
  /** HMAC keys; the first signs, all verify. */
  secrets: string[];
  adminToken: string | undefined;
  logLevel: string;
  production: boolean;
  /** First retry delay of a temporary send failure; later ones double. */
  sendBackoffMs: number;
  /** Attempts per message before it is marked failed. */
  sendAttempts: number;
  workerConcurrency: number;
  /** Signups per client IP per minute; 0: no limit. */
  rateLimitPerMinute: number;
  /** Failed admin sign-ins and bearer tokens per client IP per 15 minutes; 0: no limit. */
  adminAuthFailuresPer15m: number;
  /** express 'trust proxy': false (no proxy), a hop count, or addresses/CIDRs of trusted proxies. */
  trustProxy: false | number | string[];
  /**
   * Confirmation emails to one address (see ConfirmLimits in mailPolicy): shortest gap between
   * two (0: none), and most a day and unanswered in all (0: no cap).
   */
  confirmLimits: { cooldownMs: number; max: number };
  /** OPTOUT_RETENTION: how long a contact with no active subscription keeps what no opt-out needs; 0: the next sweep. */
  optOutRetentionMs: number;
  /** OUTBOX_RETENTION: how long a sent or dropped message, and an ended webhook delivery, stays in full before the sweep prunes it. */
  outboxRetentionMs: number;
  confirmReminderAfterMs: number;
  /** SWEEP_INTERVAL: the period of the expiry and minimisation sweep. */
  sweepIntervalMs: number;
  /** How old the dashboard's per-list status counts may be (each process keeps the last count); 0: counted on every request. */
  statsCountsMaxAgeMs: number;
  /** Origins allowed to post signups with fetch (CORS). */
  allowedOrigins: string[];
  /** Cloudflare Turnstile secret; unset: no CAPTCHA. */
  turnstileSecret: string | undefined;
  blockDisposable: boolean;
  checkMx: boolean;
  turnstileVerifyUrl: string;
  /** How long a worker's claim on a message lasts; a crashed worker's messages are taken over after it. */
  sendLockMs: number;
  /** A queued outbox row handed longer ago than this is checked on and handed again if its job is gone. */
  outboxRehandMs: number;
  /** HMAC key of the generic bounce/complaint webhook; unset: that webhook is off. */
  webhookSecret: string | undefined;
  /** Mailgun's webhook signing key; unset: the Mailgun webhook is off. */
  mailgunSigningKey: string | undefined;
  /** Bearer token a scrape of /metrics must bring; unset: /metrics is open, except on PORT in production, where it is off (404). */
  metricsToken: string | undefined;
  /** A port of its own for /metrics (0: any free one), then not on PORT; unset: /metrics is on PORT. */
  metricsPort: number | undefined;
  /** Outbound webhooks (docs/webhooks.md): first retry delay, doubled after each failed attempt. */
  webhookBackoffMs: number;
  /** Outbound webhooks: a delivery is retried until its delays add up to at least this, then marked failed. */
  webhookRetryHorizonMs: number;
  /** Outbound webhooks: how long one attempt may take before it counts as failed. */
  webhookTimeoutMs: number;
  /** Outbound webhooks: how often the relay looks for deliveries to hand to the queue. */
  webhookRelayIntervalMs: number;
  /** WEBHOOK_ALLOW_PRIVATE: in production, receivers on private networks and this machine are allowed (refused by default). */
  webhookAllowPrivate: boolean;
  /** Broadcast messages a minute across every worker (BROADCAST_RATE_PER_MINUTE); 0: no limit. */
  broadcastRatePerMinute: number;
}

/**
 * SITE_NAME and SITE_URL. `host` is SITE_URL's host, else PUBLIC_URL's: mail says "asked to
 * receive … from <name> at <host>" even when no name is set.
 */
export interface Site {
  name: string | undefined;
  url: string | undefined;
  host: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
  }
}

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** A switch: true/1/yes or false/0/no, `fallback` when unset. */
function booleanVariable(fallback: boolean) {
  return optionalText.transform((value, ctx) => {
    if (value === undefined) return fallback;
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    ctx.addIssue({ code: 'custom', message: 'true or false' });
    return z.NEVER;
  });
}

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  DATABASE_PATH: z.string().min(1).default('./data/optin.db'),
  DATABASE_URL: optionalText.pipe(
    z.url({ protocol: /^postgres(ql)?$/, error: 'a PostgreSQL URL: postgres://user:password@host:5432/database' }).optional(),
  ),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).max(86_400_000).default(30_000),
  MIGRATE_ON_START: booleanVariable(true),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER: booleanVariable(false),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only')
    .default('optin'),
  SMTP_URL: optionalText.pipe(z.url({ protocol: /^smtps?$/ }).optional()),
  MAIL_FROM: optionalText.pipe(
    z
      .string()
      .refine((value) => senderDomain(value) !== undefined, 'one address with a domain, e.g. "News <news@example.com>"')
      .optional(),
  ),
  REPLY_TO: optionalText.pipe(
    z
      .string()
      .refine((value) => senderAddress(value) !== undefined, 'one address with a domain, e.g. "help@example.com"')
      .optional(),
  ),
  SITE_NAME: optionalText.pipe(
    z
      .string()
      .max(100, 'at most 100 characters')
      .refine((value) => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value), 'no control characters or line breaks')
      .optional(),
  ),
  SITE_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  DKIM_DOMAIN: optionalText.pipe(
    z
      .string()
      .refine(isDkimDomain, 'a domain name such as example.com')
      .transform((d) => d.toLowerCase())
      .optional(),
  ),
  DKIM_SELECTOR: optionalText.transform((value, ctx) => {
    const selectors = (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = selectors.filter((s) => !isDkimSelector(s));
    if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `not a selector (letters, digits, "-" and "."): ${bad.join(', ')}` });
    else if (new Set(selectors).size !== selectors.length) ctx.addIssue({ code: 'custom', message: 'a selector is named twice' });
    return selectors;
  }),
  DKIM_PRIVATE_KEY: optionalText,
  DKIM_PRIVATE_KEY_FILE: optionalText,
  DNS_SERVERS: optionalText.transform((value, ctx) => {
    const servers = (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = servers.filter((s) => !isDnsServer(s));
    if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `not an IP address (with an optional :port): ${bad.join(', ')}` });
    return servers;
  }),
  SECRET: optionalText,
  ADMIN_TOKEN: optionalText.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().optional(),
  SEND_BACKOFF_MS: z.coerce.number().int().min(10).max(3_600_000).default(5000),
  SEND_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(6),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(20),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(30),
  ADMIN_AUTH_FAILURES_PER_15M: z.coerce.number().int().min(0).max(1_000_000).default(10),
  TRUST_PROXY: optionalText.transform((value, ctx) => {
    const parsed = parseTrustProxy(value);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  }),
  CONFIRM_COOLDOWN: optionalText.transform((value, ctx) => {
    const ms = parseDuration(value ?? '15m');
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a duration such as "15m", "900s", "1h" or milliseconds ("900000")' });
      return z.NEVER;
    }
    return ms;
  }),
  CONFIRM_REMINDER_AFTER: durationVariable('2d', 0, 'a duration such as "2d", "36h", or "0" (no reminder)'),
  OPTOUT_RETENTION: durationVariable('30d', 0, 'a duration such as "30d", "12h" or "0" (at the next sweep)'),
  // At least a day: the gate looks a day back in the outbox (one goodbye a day, the daily confirmation cap).
  OUTBOX_RETENTION: durationVariable('30d', 86_400_000, 'a duration of at least a day, such as "30d" or "90d"'),
  SWEEP_INTERVAL: durationVariable('1h', 100, 'a duration of at least 100ms, such as "1h" or "10m"'),
  CONFIRM_MAX: z.coerce.number().int().min(0).max(1000).default(3),
  STATS_COUNTS_MAX_AGE: optionalText.transform((value, ctx) => {
    const ms = parseDuration(value ?? '10s');
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a duration such as "10s", "1m" or milliseconds ("10000"); 0: count on every request' });
      return z.NEVER;
    }
    return ms;
  }),
  ALLOWED_ORIGINS: optionalText.transform((value, ctx) => {
    const origins = (value ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean);
    const bad = origins.filter((o) => !isOrigin(o));
    if (bad.length > 0) {
      ctx.addIssue({ code: 'custom', message: `not an origin (scheme://host[:port]): ${bad.join(', ')}` });
      return z.NEVER;
    }
    return origins;
  }),
  TURNSTILE_SECRET: optionalText,
  BLOCK_DISPOSABLE: flag(true),
  CHECK_MX: flag(false),
  TURNSTILE_VERIFY_URL: z.url({ protocol: /^https?$/ }).default('https://challenges.cloudflare.com/turnstile/v0/siteverify'),
  SEND_LOCK_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  OUTBOX_REHAND_MS: z.coerce.number().int().min(500).max(3_600_000).default(30_000),
  WEBHOOK_SECRET: optionalText.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  MAILGUN_SIGNING_KEY: optionalText,
  METRICS_TOKEN: optionalText.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  METRICS_PORT: optionalText.pipe(z.coerce.number<string | undefined>().int().min(0).max(65535).optional()),
  WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(10).max(3_600_000).default(10_000),
  WEBHOOK_RETRY_HORIZON_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(30 * 86_400_000)
    .default(86_400_000),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  WEBHOOK_RELAY_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  WEBHOOK_ALLOW_PRIVATE: booleanVariable(false),
  BROADCAST_RATE_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(600),
});

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "15m", "900s", "2h", "1d", "250ms", or a bare number of milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,12})\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms']!;
}

/** A duration variable (the format of parseDuration) with its default and its least value, in milliseconds. */
function durationVariable(fallback: string, least: number, problem: string) {
  return optionalText.transform((value, ctx) => {
    const ms = parseDuration(value ?? fallback);
    if (ms === undefined || ms < least) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return ms;
  });
}

/** A switch: true/1/yes or false/0/no; absent, its default. */
function flag(fallback: boolean) {
  return optionalText.transform((value, ctx) => {
    if (value === undefined) return fallback;
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    ctx.addIssue({ code: 'custom', message: 'true or false' });
    return z.NEVER;
  });
}

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * TRUST_PROXY as express understands it, but never a blind `true` (which would let any client
 * pick its own IP with X-Forwarded-For): a hop count, or proxies' addresses/CIDRs. A string is a problem.
 */
export function parseTrustProxy(text: string | undefined): false | number | string[] | string {
  if (text === undefined || text === 'false' || text === '0') return false;
  if (/^\d{1,2}$/.test(text)) return Number(text);
  if (text === 'true') return 'use a hop count (e.g. 1) or the proxies\' addresses, not "true"';
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const bad = entries.filter((entry) => !PROXY_NAMES.includes(entry) && !isAddressOrCidr(entry));
  if (bad.length > 0) return `not a hop count, address or CIDR: ${bad.join(', ')}`;
  return entries;
}

function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** What node:dns takes: "1.1.1.1", "1.1.1.1:53", "2606:4700::1111" or "[2606:4700::1111]:53". */
function isDnsServer(entry: string): boolean {
  if (isIP(entry) !== 0) return true;
  const match = /^(?:\[([0-9a-f:.]+)\]|([0-9.]+)):(\d{1,5})$/i.exec(entry);
  if (!match || Number(match[3]) > 65535) return false;
  return match[1] ? isIP(match[1]) === 6 : isIP(match[2]!) === 4;
}

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === text.replace(/\/$/, '');
  } catch {
    return false;
  }
}

/**
 * Reads and validates the environment. Every bad value becomes one line of the ConfigError,
 * so an operator sees all problems at once instead of fixing them one restart at a time.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`));
  }
  const e = parsed.data;
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    throw new ConfigError(['METRICS_PORT: must differ from PORT (unset it to serve /metrics on PORT)']);
  }
  if (e.REDIS_CLUSTER && !/^\/?(0)?$/.test(new URL(e.REDIS_URL).pathname)) {
    throw new ConfigError(['REDIS_URL: a Redis Cluster has database 0 only; leave the database number out of the URL']);
  }
  const production = e.NODE_ENV === 'production';
  const dataDir = path.dirname(path.resolve(e.DATABASE_PATH));
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');

  let secrets: string[] = [];
  if (e.SECRET) {
    secrets = e.SECRET.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const short = secrets.filter((s) => s.length < 16);
    if (short.length > 0) throw new ConfigError(['SECRET: every key must be at least 16 characters']);
  }
  if (production) {
    const problems = productionProblems({ secret: e.SECRET, mailFrom: e.MAIL_FROM, publicUrl });
    if (problems.length > 0) throw new ConfigError(problems);
  } else if (!e.SECRET) {
    secrets = [developmentSecret(dataDir)];
  }

  const dkim = dkimConfig(e.DKIM_DOMAIN, e.DKIM_SELECTOR, e.DKIM_PRIVATE_KEY, e.DKIM_PRIVATE_KEY_FILE);

  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    databasePath: e.DATABASE_PATH,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    migrateOnStart: e.MIGRATE_ON_START,
    dataDir,
    redisUrl: e.REDIS_URL,
    redisCluster: e.REDIS_CLUSTER,
    queuePrefix: e.QUEUE_PREFIX,
    smtpUrl: e.SMTP_URL,
    mailFrom: withDisplayName(e.MAIL_FROM ?? 'no-reply@localhost', e.SITE_NAME ?? 'optin'),
    replyTo: e.REPLY_TO,
    site: { name: e.SITE_NAME, url: e.SITE_URL, host: new URL(e.SITE_URL ?? publicUrl).hostname },
    dkim,
    dnsServers: e.DNS_SERVERS,
    secrets,
    adminToken: e.ADMIN_TOKEN,
    logLevel: e.LOG_LEVEL,
    production,
    sendBackoffMs: e.SEND_BACKOFF_MS,
    sendAttempts: e.SEND_ATTEMPTS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    adminAuthFailuresPer15m: e.ADMIN_AUTH_FAILURES_PER_15M,
    trustProxy: e.TRUST_PROXY,
    confirmLimits: { cooldownMs: e.CONFIRM_COOLDOWN, max: e.CONFIRM_MAX },
    /** How long a contact with no active subscription keeps what no opt-out needs (docs/preferences.md). */
    optOutRetentionMs: e.OPTOUT_RETENTION,
    /** Sent and dropped messages and ended webhook deliveries older than this are pruned by the sweep (docs/operations.md). */
    outboxRetentionMs: e.OUTBOX_RETENTION,
    /** The period of the expiry and minimisation sweep. */
    sweepIntervalMs: e.SWEEP_INTERVAL,
    /** CONFIRM_REMINDER_AFTER: when an unconfirmed request gets its one reminder (by the sweep); 0: never. */
    confirmReminderAfterMs: e.CONFIRM_REMINDER_AFTER,
    statsCountsMaxAgeMs: e.STATS_COUNTS_MAX_AGE,
    allowedOrigins: e.ALLOWED_ORIGINS.map((o) => o.replace(/\/$/, '')),
    turnstileSecret: e.TURNSTILE_SECRET,
    /** Refuse addresses at throwaway-inbox domains at signup (docs/signup-checks.md). */
    blockDisposable: e.BLOCK_DISPOSABLE,
    /** Refuse addresses whose domain cannot receive mail (null MX, NXDOMAIN, no MX/A/AAAA), asking DNS_SERVERS. */
    checkMx: e.CHECK_MX,
    turnstileVerifyUrl: e.TURNSTILE_VERIFY_URL,
    sendLockMs: e.SEND_LOCK_MS,
    outboxRehandMs: e.OUTBOX_REHAND_MS,
    webhookSecret: e.WEBHOOK_SECRET,
    mailgunSigningKey: e.MAILGUN_SIGNING_KEY,
    metricsToken: e.METRICS_TOKEN,
    metricsPort: e.METRICS_PORT,
    webhookBackoffMs: e.WEBHOOK_BACKOFF_MS,
    webhookRetryHorizonMs: e.WEBHOOK_RETRY_HORIZON_MS,
    webhookTimeoutMs: e.WEBHOOK_TIMEOUT_MS,
    webhookRelayIntervalMs: e.WEBHOOK_RELAY_INTERVAL_MS,
    webhookAllowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
    broadcastRatePerMinute: e.BROADCAST_RATE_PER_MINUTE,
  };
}

/** The machine's own names, where plain http carries nothing across a network. */
export const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/**
 * What a production start refuses, one line each: mail that cannot be recognised or cannot
 * arrive (no MAIL_FROM, or one at localhost), and links that carry tokens in the clear. Plain
 * http stays allowed on this machine's own names, so a production build can be tried locally.
 */
function productionProblems(settings: { secret: string | undefined; mailFrom: string | undefined; publicUrl: string }): string[] {
  const problems: string[] = [];
  if (!settings.secret) problems.push('SECRET: required when NODE_ENV=production (a comma-separated list of keys)');
  if (settings.mailFrom === undefined) {
    problems.push(
      'MAIL_FROM: required when NODE_ENV=production: the address your mail comes from, on your own domain, e.g. "Example News <news@example.com>"',
    );
  } else {
    const domain = senderDomain(settings.mailFrom)!;
    if (domain === 'localhost' || domain.endsWith('.localhost')) {
      problems.push(
        `MAIL_FROM: its domain is ${domain}, which no receiving server accepts; with NODE_ENV=production use an address on your own domain`,
      );
    }
  }
  const url = new URL(settings.publicUrl);
  if (url.protocol !== 'https:' && !LOCAL_HOSTS.includes(url.hostname)) {
    problems.push(
      'PUBLIC_URL: must start with https:// when NODE_ENV=production, since its links carry tokens (plain http:// is allowed for localhost and 127.0.0.1 only)',
    );
  }
  return problems;
}

/**
 * DKIM_DOMAIN, DKIM_SELECTOR and a key go together. Several selectors (comma-separated) pair in
 * order with the keys: the PEM blocks of DKIM_PRIVATE_KEY, or of the DKIM_PRIVATE_KEY_FILE files.
 */
function dkimConfig(
  domain: string | undefined,
  selectors: string[],
  keyText: string | undefined,
  keyFiles: string | undefined,
): DkimConfig | undefined {
  if (!domain && selectors.length === 0 && !keyText && !keyFiles) return undefined;
  const problems: string[] = [];
  if (!domain) problems.push('DKIM_DOMAIN: required with the other DKIM settings');
  if (selectors.length === 0) problems.push('DKIM_SELECTOR: required with the other DKIM settings');
  if (keyText && keyFiles) problems.push('DKIM_PRIVATE_KEY: set it or DKIM_PRIVATE_KEY_FILE, not both');
  if (!keyText && !keyFiles) problems.push('DKIM_PRIVATE_KEY: required with the other DKIM settings (or DKIM_PRIVATE_KEY_FILE)');
  if (problems.length > 0) throw new ConfigError(problems);

  const setting = keyText ? 'DKIM_PRIVATE_KEY' : 'DKIM_PRIVATE_KEY_FILE';
  const pems: string[] = [];
  if (keyText) pems.push(...pemBlocks(keyText));
  for (const file of (keyFiles ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean)) {
    try {
      pems.push(...pemBlocks(readFileSync(file, 'utf8')));
    } catch (error) {
      problems.push(`DKIM_PRIVATE_KEY_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (pems.length !== selectors.length) {
    throw new ConfigError([
      `${setting}: ${pems.length} PEM private key(s) for ${selectors.length} selector(s) in DKIM_SELECTOR; give one key per selector, in the same order`,
    ]);
  }
  const keys: DkimKey[] = [];
  pems.forEach((pem, i) => {
    try {
      keys.push(dkimKey(selectors[i]!, pem));
    } catch (error) {
      problems.push(`${setting}: key ${i + 1} (selector ${selectors[i]}): ${(error as Error).message}`);
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { domain: domain!, keys };
}

/** Outside production a missing SECRET is generated once and kept, so links survive restarts. */
function developmentSecret(dataDir: string): string {
  const file = path.join(dataDir, 'secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
