import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { dkimWarnings, generateDkimKey } from '../../src/platform/mail/dkim.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'optin-config-'));

describe('configuration', () => {
  it('has working defaults and derives PUBLIC_URL from PORT', () => {
    const data = dir();
    const config = loadConfig({ DATABASE_PATH: path.join(data, 'optin.db'), PORT: '4123' });
    expect(config.publicUrl).toBe('http://localhost:4123');
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.queuePrefix).toBe('optin');
    expect(config.smtpUrl).toBeUndefined();
  });

  it('generates a development secret once and keeps it', () => {
    const data = dir();
    const env = { DATABASE_PATH: path.join(data, 'optin.db') };
    const first = loadConfig(env).secrets;
    expect(first).toHaveLength(1);
    expect(loadConfig(env).secrets).toEqual(first);
    expect(readFileSync(path.join(data, 'secret'), 'utf8').trim()).toBe(first[0]);
  });

  it('refuses to start in production without SECRET', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_PATH: path.join(dir(), 'x.db') })).toThrow(/SECRET/);
  });

  it('splits SECRET for rotation: the first signs, all verify', () => {
    const config = loadConfig({ SECRET: 'new-key-0123456789abc, old-key-0123456789abc', DATABASE_PATH: path.join(dir(), 'x.db') });
    expect(config.secrets).toEqual(['new-key-0123456789abc', 'old-key-0123456789abc']);
  });

  it('reports every bad value, one line each', () => {
    try {
      loadConfig({
        PORT: 'abc',
        REDIS_URL: 'http://nope',
        SMTP_URL: 'ftp://x',
        LOG_LEVEL: 'loud',
        DATABASE_PATH: path.join(dir(), 'x.db'),
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems.join('\n');
      for (const name of ['PORT', 'REDIS_URL', 'SMTP_URL', 'LOG_LEVEL']) expect(problems).toContain(name);
      expect((error as ConfigError).problems).toHaveLength(4);
    }
  });
});

describe('Redis settings', () => {
  const base = () => ({ DATABASE_PATH: path.join(dir(), 'x.db') });

  it('takes REDIS_URL as a single server unless REDIS_CLUSTER says it seeds a cluster, which has database 0 only', () => {
    expect(loadConfig(base()).redisCluster).toBe(false);
    expect(loadConfig({ ...base(), REDIS_CLUSTER: 'true', REDIS_URL: 'redis://cache.example:7000' })).toMatchObject({
      redisCluster: true,
      redisUrl: 'redis://cache.example:7000',
    });
    expect(loadConfig({ ...base(), REDIS_CLUSTER: 'true', REDIS_URL: 'redis://cache.example:7000/0' }).redisCluster).toBe(true);
    expect(() => loadConfig({ ...base(), REDIS_CLUSTER: 'true', REDIS_URL: 'redis://cache.example:7000/2' })).toThrow(
      /REDIS_URL: .*database 0/,
    );
    expect(loadConfig({ ...base(), REDIS_URL: 'redis://cache.example:7000/2' }).redisCluster).toBe(false);
    expect(() => loadConfig({ ...base(), REDIS_CLUSTER: 'maybe' })).toThrow(/REDIS_CLUSTER/);
  });
});

describe('database settings', () => {
  const base = () => ({ DATABASE_PATH: path.join(dir(), 'x.db') });
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('uses the SQLite file when DATABASE_URL is unset, with the documented defaults', () => {
    const config = loadConfig(base());
    expect(config).toMatchObject({ databaseUrl: undefined, databasePoolMax: 10, databaseStatementTimeoutMs: 30_000, migrateOnStart: true });
    expect(loadConfig({ ...base(), DATABASE_URL: '' }).databaseUrl).toBeUndefined();
  });

  it('takes a postgres:// or postgresql:// URL, the pool size, the statement timeout and MIGRATE_ON_START', () => {
    const url = 'postgres://optin:secret@db.example.com:5432/optin?sslmode=require';
    const config = loadConfig({
      ...base(),
      DATABASE_URL: url,
      DATABASE_POOL_MAX: '25',
      DATABASE_STATEMENT_TIMEOUT_MS: '0',
      MIGRATE_ON_START: 'false',
    });
    expect(config).toMatchObject({ databaseUrl: url, databasePoolMax: 25, databaseStatementTimeoutMs: 0, migrateOnStart: false });
    expect(loadConfig({ ...base(), DATABASE_URL: 'postgresql://db.example.com/optin' }).databaseUrl).toBe(
      'postgresql://db.example.com/optin',
    );
    expect(loadConfig({ ...base(), MIGRATE_ON_START: 'true' }).migrateOnStart).toBe(true);
  });

  it('refuses another kind of URL and bad numbers, naming each setting', () => {
    const problems = problemsOf({
      ...base(),
      DATABASE_URL: 'mysql://db.example.com/optin',
      DATABASE_POOL_MAX: '0',
      DATABASE_STATEMENT_TIMEOUT_MS: 'soon',
      MIGRATE_ON_START: 'maybe',
    });
    expect(problems).toHaveLength(4);
    for (const name of ['DATABASE_URL', 'DATABASE_POOL_MAX', 'DATABASE_STATEMENT_TIMEOUT_MS', 'MIGRATE_ON_START']) {
      expect(problems.some((line) => line.startsWith(name))).toBe(true);
    }
    expect(problems.find((line) => line.startsWith('DATABASE_URL'))).toContain('postgres://');
  });
});

describe('DKIM settings', () => {
  const rsaPem = generateDkimKey('rsa');
  const edPem = generateDkimKey('ed25519');
  const base = () => ({ DATABASE_PATH: path.join(dir(), 'x.db'), MAIL_FROM: 'News <news@mail.example.com>' });
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.join('\n');
      throw error;
    }
    return '';
  };

  it('pairs selectors with keys in order: RSA and Ed25519 together sign twice', () => {
    const config = loadConfig({
      ...base(),
      DKIM_DOMAIN: 'Example.com',
      DKIM_SELECTOR: 'rsa1, ed1',
      DKIM_PRIVATE_KEY: `${rsaPem}\n${edPem}`,
    });
    expect(config.dkim?.domain).toBe('example.com');
    expect(config.dkim?.keys.map((k) => [k.selector, k.type])).toEqual([
      ['rsa1', 'rsa'],
      ['ed1', 'ed25519'],
    ]);
    expect(dkimWarnings(config.dkim, config.mailFrom)).toEqual([]);
    expect(loadConfig(base()).dkim).toBeUndefined();
  });

  it('reads keys from files, and a key whose line breaks are written "\\n" (one-line environments)', () => {
    const folder = dir();
    writeFileSync(path.join(folder, 'rsa.pem'), rsaPem);
    writeFileSync(path.join(folder, 'ed.pem'), edPem);
    const fromFiles = loadConfig({
      ...base(),
      DKIM_DOMAIN: 'example.com',
      DKIM_SELECTOR: 'ed1,rsa1',
      DKIM_PRIVATE_KEY_FILE: `${path.join(folder, 'ed.pem')},${path.join(folder, 'rsa.pem')}`,
    });
    expect(fromFiles.dkim?.keys.map((k) => k.type)).toEqual(['ed25519', 'rsa']);
    const oneLine = loadConfig({
      ...base(),
      DKIM_DOMAIN: 'example.com',
      DKIM_SELECTOR: 's1',
      DKIM_PRIVATE_KEY: rsaPem.trim().replaceAll('\n', '\\n'),
    });
    expect(oneLine.dkim?.keys[0]?.type).toBe('rsa');
  });

  it('refuses incomplete, contradictory or weak DKIM settings, saying which', () => {
    expect(problemsOf({ ...base(), DKIM_DOMAIN: 'example.com' })).toMatch(/DKIM_SELECTOR: required[\s\S]*DKIM_PRIVATE_KEY: required/);
    expect(
      problemsOf({ ...base(), DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: rsaPem, DKIM_PRIVATE_KEY_FILE: '/k.pem' }),
    ).toMatch(/not both/);
    expect(problemsOf({ ...base(), DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 's1,s2', DKIM_PRIVATE_KEY: rsaPem })).toMatch(
      /1 PEM private key\(s\) for 2 selector/,
    );
    expect(
      problemsOf({ ...base(), DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY_FILE: path.join(dir(), 'none.pem') }),
    ).toMatch(/cannot read .*none\.pem \(ENOENT\)/);
    expect(problemsOf({ ...base(), DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: 'not a key' })).toMatch(
      /0 PEM private key/,
    );
    const weak = generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(problemsOf({ ...base(), DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: weak })).toMatch(
      /key 1 \(selector s1\): an RSA key of 512 bits/,
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(problemsOf({ ...base(), DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: ec })).toMatch(
      /a key of type ec: DKIM takes rsa or ed25519/,
    );
    expect(problemsOf({ ...base(), DKIM_DOMAIN: 'not a domain', DKIM_SELECTOR: 'a b', DKIM_PRIVATE_KEY: rsaPem })).toMatch(
      /DKIM_DOMAIN[\s\S]*DKIM_SELECTOR: not a selector/,
    );
    expect(problemsOf({ ...base(), MAIL_FROM: 'just a name' })).toMatch(/MAIL_FROM: one address with a domain/);
    expect(problemsOf({ ...base(), DNS_SERVERS: '1.1.1.1, [::1]:5353, 127.0.0.1:53' })).toBe('');
    expect(problemsOf({ ...base(), DNS_SERVERS: 'dns.example.com' })).toMatch(/DNS_SERVERS: not an IP address/);
  });

  it('warns when DKIM is missing, does not align with MAIL_FROM, or has no RSA key', () => {
    const config = (extra: Record<string, string>) => loadConfig({ ...base(), DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: rsaPem, ...extra });
    expect(dkimWarnings(undefined, 'News <news@example.com>')).toEqual([expect.stringContaining('DKIM is not configured')]);
    // A parent of the From domain aligns (relaxed alignment); another domain does not.
    expect(dkimWarnings(config({ DKIM_DOMAIN: 'example.com' }).dkim, 'News <news@mail.example.com>')).toEqual([]);
    expect(dkimWarnings(config({ DKIM_DOMAIN: 'mail.example.com' }).dkim, 'News <news@mail.example.com>')).toEqual([]);
    expect(dkimWarnings(config({ DKIM_DOMAIN: 'example.net' }).dkim, 'News <news@mail.example.com>')).toEqual([
      expect.stringMatching(/DKIM_DOMAIN example\.net is neither the MAIL_FROM domain \(mail\.example\.com\)/),
    ]);
    expect(dkimWarnings(config({ DKIM_DOMAIN: 'ample.com' }).dkim, 'News <news@example.com>')).toHaveLength(1);
    const edOnly = loadConfig({ ...base(), DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 'ed1', DKIM_PRIVATE_KEY: edPem });
    expect(dkimWarnings(edOnly.dkim, edOnly.mailFrom)).toEqual([expect.stringContaining('no RSA key')]);
  });
});

describe('the sender and the site', () => {
  const production = (extra: Record<string, string>) => ({
    NODE_ENV: 'production',
    DATABASE_PATH: path.join(dir(), 'x.db'),
    SECRET: 'production-secret-0123456789',
    MAIL_FROM: 'Example News <news@example.com>',
    PUBLIC_URL: 'https://optin.example.com',
    ...extra,
  });
  const problemsOf = (env: Record<string, string | undefined>) => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  };

  it('names the site: SITE_NAME, SITE_URL and the host mail speaks of', () => {
    const config = loadConfig({
      DATABASE_PATH: path.join(dir(), 'x.db'),
      SITE_NAME: ' Example News ',
      SITE_URL: 'https://news.example.com/',
      PUBLIC_URL: 'https://optin.example.com',
    });
    expect(config.site).toEqual({ name: 'Example News', url: 'https://news.example.com/', host: 'news.example.com' });
    // Without SITE_URL, the host is PUBLIC_URL's.
    expect(loadConfig({ DATABASE_PATH: path.join(dir(), 'x.db'), PUBLIC_URL: 'https://optin.example.com' }).site).toEqual({
      name: undefined,
      url: undefined,
      host: 'optin.example.com',
    });
    expect(problemsOf({ DATABASE_PATH: path.join(dir(), 'x.db'), SITE_URL: 'news.example.com', SITE_NAME: 'Two\nlines' })).toEqual([
      expect.stringMatching(/^SITE_NAME: no control characters/),
      expect.stringMatching(/^SITE_URL: /),
    ]);
  });

  it('puts SITE_NAME in From when MAIL_FROM has no display name of its own, and takes REPLY_TO', () => {
    const base = { DATABASE_PATH: path.join(dir(), 'x.db'), SITE_NAME: 'Les "Nouvelles" d’Été' };
    expect(loadConfig({ ...base, MAIL_FROM: 'news@example.com' }).mailFrom).toBe('"Les \\"Nouvelles\\" d’Été" <news@example.com>');
    expect(loadConfig({ ...base, MAIL_FROM: 'Chosen Name <news@example.com>' }).mailFrom).toBe('Chosen Name <news@example.com>');
    expect(loadConfig(base).mailFrom).toBe('"Les \\"Nouvelles\\" d’Été" <no-reply@localhost>');
    expect(loadConfig({ DATABASE_PATH: base.DATABASE_PATH }).mailFrom).toBe('optin <no-reply@localhost>');
    expect(loadConfig({ ...base, REPLY_TO: 'Help <help@example.com>' }).replyTo).toBe('Help <help@example.com>');
    expect(problemsOf({ ...base, REPLY_TO: 'nobody' })).toEqual([expect.stringMatching(/^REPLY_TO: one address with a domain/)]);
  });

  it('refuses a production start without a real sender or with links in the clear, one line each', () => {
    expect(problemsOf(production({}))).toEqual([]);
    expect(problemsOf(production({ MAIL_FROM: '' }))).toEqual([expect.stringMatching(/^MAIL_FROM: required when NODE_ENV=production/)]);
    expect(problemsOf(production({ MAIL_FROM: 'News <news@localhost>' }))).toEqual([
      expect.stringMatching(/^MAIL_FROM: its domain is localhost/),
    ]);
    expect(problemsOf(production({ PUBLIC_URL: 'http://optin.example.com' }))).toEqual([
      expect.stringMatching(/^PUBLIC_URL: must start with https:\/\//),
    ]);
    // A production build tried on this machine.
    expect(problemsOf(production({ PUBLIC_URL: 'http://localhost:3000' }))).toEqual([]);
    expect(problemsOf(production({ PUBLIC_URL: 'http://127.0.0.1:3000' }))).toEqual([]);
    expect(problemsOf(production({ PUBLIC_URL: '' }))).toEqual([]);
    // Every problem at once.
    expect(
      problemsOf(production({ SECRET: '', MAIL_FROM: 'news@mail.localhost', PUBLIC_URL: 'http://optin.example.com' })).map(
        (line) => line.split(':')[0],
      ),
    ).toEqual(['SECRET', 'MAIL_FROM', 'PUBLIC_URL']);
    // Outside production the same settings start.
    expect(problemsOf({ ...production({ MAIL_FROM: '', PUBLIC_URL: 'http://optin.example.com' }), NODE_ENV: 'development' })).toEqual([]);
  });
});

describe('OUTBOX_RETENTION', () => {
  const load = (value?: string) =>
    loadConfig({ DATABASE_PATH: path.join(dir(), 'x.db'), ...(value === undefined ? {} : { OUTBOX_RETENTION: value }) });

  it('keeps sent mail 30 days unless told otherwise, in the format of the other durations', () => {
    expect(load().outboxRetentionMs).toBe(30 * 86_400_000);
    expect(load('90d').outboxRetentionMs).toBe(90 * 86_400_000);
    expect(load('36h').outboxRetentionMs).toBe(36 * 3_600_000);
  });

  it('refuses less than a day (the gate looks a day back in the outbox) and anything that is not a duration', () => {
    for (const value of ['0', '23h', 'a month', '-1d']) {
      const refused = (() => {
        try {
          load(value);
        } catch (error) {
          return error;
        }
      })();
      expect(refused, value).toBeInstanceOf(ConfigError);
      expect((refused as ConfigError).problems, value).toEqual([expect.stringMatching(/^OUTBOX_RETENTION: a duration of at least a day/)]);
    }
  });
});
