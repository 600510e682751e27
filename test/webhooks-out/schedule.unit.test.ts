import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { webhookAttempts } from '../../src/features/webhooks-out/deliver.js';

describe('outbound webhook retry schedule', () => {
  it('retries until the doubling waits add up to at least the horizon', () => {
    // 10 s × (2¹⁴ − 1) ≈ 45.5 h ≥ 24 h, while 10 s × (2¹³ − 1) ≈ 22.8 h is not: 14 retries, 15 attempts.
    expect(webhookAttempts({ backoffMs: 10_000, horizonMs: 86_400_000 })).toBe(15);
    expect(webhookAttempts({ backoffMs: 20, horizonMs: 250 })).toBe(5);
    expect(webhookAttempts({ backoffMs: 100, horizonMs: 100 })).toBe(2);
    expect(webhookAttempts({ backoffMs: 3_600_000, horizonMs: 100 })).toBe(2);
  });

  it('defaults to 10 s, 24 h, a 10 s timeout and a 1 s relay interval', () => {
    const config = loadConfig({ SECRET: 'a-secret-of-sixteen-chars', LOG_LEVEL: 'silent' });
    expect([config.webhookBackoffMs, config.webhookRetryHorizonMs, config.webhookTimeoutMs, config.webhookRelayIntervalMs]).toEqual([
      10_000, 86_400_000, 10_000, 1000,
    ]);
    expect(() => loadConfig({ SECRET: 'a-secret-of-sixteen-chars', WEBHOOK_BACKOFF_MS: '0' })).toThrow(/WEBHOOK_BACKOFF_MS/);
  });
});
