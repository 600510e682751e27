import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { postJson, waitFor } from '../support/http.js';
import { startTestService } from '../support/service.js';

const METRICS_TOKEN = 'metrics-token-0123456789';
const queuedGauge = (text: string) => Number(/^optin_outbox_messages\{status="queued"\} (\d+)$/m.exec(text)?.[1]);

describe('/metrics', () => {
  it('with METRICS_TOKEN, answers only a scrape that brings it as a Bearer token', async () => {
    const t = await startTestService({ env: { METRICS_TOKEN } });
    try {
      for (const authorization of [undefined, 'Bearer wrong-token-0123456789', `Basic ${METRICS_TOKEN}`, `Bearer ${METRICS_TOKEN}x`]) {
        const res = await fetch(`${t.url}/metrics`, { headers: authorization ? { authorization } : {} });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(await res.json()).toEqual({ error: { code: 'unauthorized', message: expect.stringContaining('METRICS_TOKEN') } });
      }
      // The admin token is not the metrics token.
      expect((await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.config.adminToken}` } })).status).toBe(401);
      const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^optin_signups_total 0$/m);
    } finally {
      await t.stop();
    }
  });

  it('with METRICS_PORT, is served on that port only, not on the public one', async () => {
    const t = await startTestService({ env: { METRICS_PORT: '0', METRICS_TOKEN } });
    try {
      const metricsUrl = t.service.metricsUrl!;
      expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(metricsUrl).not.toBe(t.url);
      const publicAnswer = await fetch(`${t.url}/metrics`, {
        headers: { authorization: `Bearer ${METRICS_TOKEN}`, accept: 'application/json' },
      });
      expect(publicAnswer.status).toBe(404);
      expect(((await publicAnswer.json()) as { error: { code: string } }).error.code).toBe('not_found');

      expect((await fetch(`${metricsUrl}/metrics`)).status).toBe(401);
      const scrape = await fetch(`${metricsUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toMatch(/^optin_signups_total 0$/m);
      // Nothing else lives on the metrics port.
      for (const other of ['/subscribe', '/healthz', '/admin/api/suppressions']) {
        expect((await fetch(`${metricsUrl}${other}`, { headers: { accept: 'application/json' } })).status).toBe(404);
      }
      expect((await postJson(`${metricsUrl}/subscribe`, { email: 'port@example.com' })).status).toBe(404);
    } finally {
      await t.stop();
    }
    // Both listeners are closed with the service.
    await expect(fetch(`${t.service.metricsUrl}/metrics`)).rejects.toThrow();
  });

  it('counts the outbox at most every few seconds, however often it is scraped', async () => {
    const t = await startTestService({ roles: ['api'] });
    try {
      const scrape = async () => (await fetch(`${t.url}/metrics`)).text();
      expect(queuedGauge(await scrape())).toBe(0);
      expect((await postJson(`${t.url}/subscribe`, { email: 'counted@example.com' })).status).toBe(202);
      // A scrape right after reuses the count it just made rather than counting the table again.
      expect(queuedGauge(await scrape())).toBe(0);
      await waitFor(async () => queuedGauge(await scrape()) === 1, 10_000, 'the outbox count to be refreshed');
    } finally {
      await t.stop();
    }
  });

  it('refuses a short METRICS_TOKEN and a METRICS_PORT equal to PORT', () => {
    const DATABASE_PATH = path.join(mkdtempSync(path.join(tmpdir(), 'optin-metrics-config-')), 'x.db');
    expect(() => loadConfig({ DATABASE_PATH, METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ DATABASE_PATH, PORT: '9100', METRICS_PORT: '9100' })).toThrow(/METRICS_PORT/);
    expect(() => loadConfig({ DATABASE_PATH, METRICS_PORT: 'x' })).toThrow(/METRICS_PORT/);
    const config = loadConfig({ DATABASE_PATH, METRICS_PORT: '9100', METRICS_TOKEN: '' });
    expect(config.metricsPort).toBe(9100);
    expect(config.metricsToken).toBeUndefined();
  });
});
