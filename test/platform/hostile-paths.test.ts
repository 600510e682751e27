import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../support/logs.js';
import { waitFor } from '../support/http.js';
import { ADMIN_AUTH, consoleCookie, startTestService, type TestService } from '../support/service.js';

const logs = captureLogs();
let t: TestService;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'], env: { LOG_LEVEL: 'info' }, logTo: logs });
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug: 'weekly', name: 'Weekly', createdAt: Date.now() });
  });
});
afterAll(async () => {
  await t?.stop();
});

/** Paths whose percent-escapes do not decode: public pages, the console, the admin API. */
const MALFORMED = [
  '/lists/%ZZ/form',
  '/lists/%/form',
  '/lists/weekly%E0%A4%A/form',
  '/admin/lists/%ZZ',
  '/admin/webhooks/%C0',
  '/admin/api/contacts/%ZZ@example.com',
  '/admin/api/lists/%ZZ',
  '/unsubscribe/%ZZ',
];

describe('a malformed percent-escape in the path', () => {
  it('answers 400 invalid_path in the one error shape, JSON or page, in the reader’s language, and logs no error', async () => {
    const cookie = await consoleCookie(t.url);
    for (const path of MALFORMED) {
      const json = await fetch(`${t.url}${path}`, { headers: { ...ADMIN_AUTH, accept: 'application/json' } });
      expect(json.status, path).toBe(400);
      expect(await json.json(), path).toEqual({ error: { code: 'invalid_path', message: expect.stringContaining('percent-escape') } });

      // The admin API answers JSON whatever is asked.
      if (path.startsWith('/admin/api/')) continue;
      const page = await fetch(`${t.url}${path}`, { headers: { cookie, accept: 'text/html' } });
      expect(page.status, path).toBe(400);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      expect(html).toContain('part of it is garbled');
      expect(html).toContain('invalid_path');
      expect(html).not.toMatch(/URIError|at .*\.js|stack/i);
    }
    const french = await fetch(`${t.url}/lists/%ZZ/form`, { headers: { accept: 'text/html', 'accept-language': 'fr' } });
    expect(french.status).toBe(400);
    expect(await french.text()).toContain('une partie en est abîmée');
    // A POST too, before its body is read.
    const post = await fetch(`${t.url}/unsubscribe/%ZZ?token=x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(400);

    // The canary request: once its line is logged, every earlier one's is.
    expect((await fetch(`${t.url}/lists/canary-path/form`)).status).toBe(404);
    await waitFor(() => logs.text().includes('/lists/canary-path/form'), 5000, 'the canary logged');
    const entries = logs.entries();
    expect(entries.filter((entry) => Number(entry.level) >= 50)).toEqual([]);
    expect(logs.text()).not.toMatch(/unhandled error|URIError|"stack"/);
    const answered = entries.filter((entry) => (entry.req as { path?: string } | undefined)?.path?.includes('%'));
    expect(answered.length).toBeGreaterThanOrEqual(MALFORMED.length);
    expect(answered.every((entry) => (entry.res as { statusCode: number }).statusCode === 400)).toBe(true);
  });
});
