import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../support/logs.js';
import { postJson, waitFor } from '../support/http.js';
import { ADMIN_AUTH, consoleCookie, startTestService, type TestService } from '../support/service.js';

const logs = captureLogs();
let t: TestService;
beforeAll(async () => {
  t = await startTestService({ env: { LOG_LEVEL: 'debug' }, logTo: logs });
});
afterAll(async () => {
  await t?.stop();
});

describe('the request log', () => {
  it('never holds an address in clear: paths are masked in every encoding, query strings are left out', async () => {
    expect((await postJson(`${t.url}/subscribe`, { email: 'Ada.Logged@Example.com' })).status).toBe(202);
    await waitFor(() => t.smtp.to('ada.logged@example.com')[0], 5000, 'the confirmation');
    const admin = (path: string, method = 'GET') =>
      fetch(`${t.url}${path}`, { method, headers: { ...ADMIN_AUTH, accept: 'application/json' } });
    expect((await admin('/admin/api/contacts/Ada.Logged@Example.com')).status).toBe(200);
    expect((await admin('/admin/api/contacts/ada.logged%40example.com/export')).status).toBe(200);
    // Encoded twice, it is no address to the API, but the log must not keep it either.
    expect((await admin('/admin/api/contacts/ada.logged%2540example.com')).status).toBe(400);
    expect((await admin('/admin/api/suppressions?email=ada.logged%40example.com&q=ada.logged@example.com')).status).toBe(200);
    const cookie = await consoleCookie(t.url);
    expect(
      (await fetch(`${t.url}/admin/contacts?email=ada.logged%40example.com`, { headers: { cookie, accept: 'text/html' } })).status,
    ).toBe(200);
    expect((await admin('/admin/api/contacts/ada.logged@example.com', 'DELETE')).status).toBe(204);
    // A request after the others: its line is there, so theirs are too.
    expect((await admin('/admin/api/contacts/canary.logged@example.com')).status).toBe(404);
    await waitFor(() => logs.text().includes('c***@example.com'), 5000, 'the last request logged');

    const text = logs.text();
    expect(text.toLowerCase()).not.toContain('ada.logged');
    expect(text).not.toMatch(/da\.logged/i);
    const paths = logs.entries().flatMap((entry) => {
      const req = entry.req as { path?: string } | undefined;
      return req?.path ? [req.path] : [];
    });
    expect(paths).toEqual(
      expect.arrayContaining([
        '/admin/api/contacts/A***@Example.com',
        '/admin/api/contacts/a***@example.com/export',
        '/admin/api/contacts/a***@example.com',
        '/admin/api/suppressions',
        '/admin/contacts',
      ]),
    );
  });
});
