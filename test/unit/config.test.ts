import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

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
      loadConfig({ PORT: 'abc', REDIS_URL: 'http://nope', SMTP_URL: 'ftp://x', LOG_LEVEL: 'loud', DATABASE_PATH: path.join(dir(), 'x.db') });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems.join('\n');
      for (const name of ['PORT', 'REDIS_URL', 'SMTP_URL', 'LOG_LEVEL']) expect(problems).toContain(name);
      expect((error as ConfigError).problems).toHaveLength(4);
    }
  });
});
