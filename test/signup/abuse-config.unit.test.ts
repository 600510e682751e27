import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration, parseTrustProxy } from '../../src/config.js';

const base = () => ({ DATABASE_PATH: path.join(mkdtempSync(path.join(tmpdir(), 'optin-config-')), 'optin.db') });

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...base(), ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('abuse settings', () => {
  it('has safe defaults', () => {
    const config = loadConfig(base());
    expect(config.rateLimitPerMinute).toBe(30);
    expect(config.trustProxy).toBe(false);
    expect(config.confirmLimits).toEqual({ cooldownMs: 15 * 60_000, max: 3 });
    expect(config.allowedOrigins).toEqual([]);
    expect(config.turnstileSecret).toBeUndefined();
    expect(config.turnstileVerifyUrl).toBe('https://challenges.cloudflare.com/turnstile/v0/siteverify');
  });

  it.each([
    ['15m', 900_000],
    ['900s', 900_000],
    ['900000', 900_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['250ms', 250],
    ['0', 0],
  ])('reads the duration %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(loadConfig({ ...base(), CONFIRM_COOLDOWN: text }).confirmLimits.cooldownMs).toBe(ms);
  });

  it.each(['15 minutes', '-5m', '1.5h', 'soon'])('refuses the duration %s', (text) => {
    expect(parseDuration(text)).toBeUndefined();
    expect(problemsOf({ CONFIRM_COOLDOWN: text })).toEqual([expect.stringMatching(/^CONFIRM_COOLDOWN: /)]);
  });

  it('takes a hop count or proxy addresses for TRUST_PROXY, never a blind true', () => {
    expect(parseTrustProxy(undefined)).toBe(false);
    expect(parseTrustProxy('1')).toBe(1);
    expect(parseTrustProxy('10.0.0.1, 10.1.0.0/16, ::1, fd00::/8, loopback')).toEqual([
      '10.0.0.1',
      '10.1.0.0/16',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    expect(problemsOf({ TRUST_PROXY: 'true' })).toEqual([expect.stringMatching(/^TRUST_PROXY: .*hop count/)]);
    expect(problemsOf({ TRUST_PROXY: '10.0.0.1, proxy.example.com, 10.0.0.0/33' })).toEqual([
      'TRUST_PROXY: not a hop count, address or CIDR: proxy.example.com, 10.0.0.0/33',
    ]);
  });

  it('reads ALLOWED_ORIGINS as a list of origins', () => {
    expect(loadConfig({ ...base(), ALLOWED_ORIGINS: 'https://a.test, http://b.test:8080/' }).allowedOrigins).toEqual([
      'https://a.test',
      'http://b.test:8080',
    ]);
    expect(problemsOf({ ALLOWED_ORIGINS: 'https://a.test, *, https://b.test/path' })).toEqual([
      'ALLOWED_ORIGINS: not an origin (scheme://host[:port]): *, https://b.test/path',
    ]);
  });

  it('reports each bad abuse setting on its own line', () => {
    const problems = problemsOf({ RATE_LIMIT_PER_MINUTE: '-1', CONFIRM_MAX: 'many', TURNSTILE_VERIFY_URL: 'ftp://x', TRUST_PROXY: 'true' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'CONFIRM_MAX',
      'RATE_LIMIT_PER_MINUTE',
      'TRUST_PROXY',
      'TURNSTILE_VERIFY_URL',
    ]);
  });
});
