import { describe, expect, it } from 'vitest';
import { captureLogs } from '../support/logs.js';
import { waitFor } from '../support/http.js';
import { startTestService } from '../support/service.js';

const PRODUCTION = { NODE_ENV: 'production', PUBLIC_URL: 'https://optin.test', LOG_LEVEL: 'info' };
const METRICS_TOKEN = 'metrics-token-0123456789';

describe('/metrics in production', () => {
  it('is off on PORT without METRICS_TOKEN (404), and the start-up log says how to turn it on', async () => {
    const logs = captureLogs();
    const t = await startTestService({ env: PRODUCTION, logTo: logs });
    try {
      const tries: Record<string, string>[] = [
        {},
        { authorization: `Bearer ${METRICS_TOKEN}` },
        { authorization: `Bearer ${t.config.adminToken}` },
      ];
      for (const headers of tries) {
        const res = await fetch(`${t.url}/metrics`, { headers: { accept: 'application/json', ...headers } });
        expect(res.status).toBe(404);
        expect(await res.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
      }
      // The counters say nothing, in any form.
      const page = await fetch(`${t.url}/metrics`, { headers: { accept: 'text/plain' } });
      expect(page.status).toBe(404);
      expect(await page.text()).not.toMatch(/optin_sends_total|optin_signups_total/);
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);

      const note = await waitFor(
        () => logs.entries().find((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('/metrics is off')),
        5000,
        'the start-up note',
      );
      expect(note.level).toBe(40);
      expect(note.msg).toMatch(/METRICS_TOKEN/);
      expect(note.msg).toMatch(/METRICS_PORT/);
    } finally {
      await t.stop();
    }
  });

  it('with METRICS_TOKEN, is served on PORT to a scrape that brings it, and nothing is noted', async () => {
    const logs = captureLogs();
    const t = await startTestService({ env: { ...PRODUCTION, METRICS_TOKEN }, logTo: logs });
    try {
      expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
      const scrape = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toMatch(/^optin_signups_total 0$/m);
      expect(logs.text()).toContain('HTTP API listening');
      expect(logs.text()).not.toContain('/metrics is off');
    } finally {
      await t.stop();
    }
  });

  it('with METRICS_PORT, is served on that port (its own network decides who reaches it), not on PORT', async () => {
    const t = await startTestService({ env: { ...PRODUCTION, METRICS_PORT: '0' } });
    try {
      expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
      const scrape = await fetch(`${t.service.metricsUrl}/metrics`);
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toMatch(/^optin_signups_total 0$/m);
    } finally {
      await t.stop();
    }
  });
});
