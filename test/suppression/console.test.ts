import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson } from '../support/http.js';
import { ADMIN_AUTH, startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'] });
});
afterAll(async () => {
  await t?.stop();
});

async function signIn(token = TEST_ADMIN_TOKEN): Promise<Response> {
  return fetch(`${t.url}/admin/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ token }).toString(),
    redirect: 'manual',
  });
}

/** A signed-in browser, reduced to its cookie and the CSRF token its pages carry. */
async function session(): Promise<{
  cookie: string;
  csrf: string;
  get(path: string): Promise<Response>;
  post(path: string, fields: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
}> {
  const res = await signIn();
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const get = (path: string) => fetch(`${t.url}${path}`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
  const page = await (await get('/admin/suppressions')).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
  const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${t.url}${path}`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
    });
  return { cookie, csrf, get, post };
}

const entriesOf = async (email: string) => {
  const {
    db,
    tables: { suppressions },
  } = t.service.database;
  return await db.select().from(suppressions).where(eq(suppressions.email, email));
};

describe('sign-in', () => {
  it('shows a password form under a strict CSP, refuses a wrong token, and sets a safe session cookie', async () => {
    const form = await fetch(`${t.url}/admin`, { headers: { accept: 'text/html' } });
    expect(form.status).toBe(200);
    const csp = form.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("form-action 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe-inline');
    const html = await form.text();
    expect(html).toContain('<input type="password" name="token"');
    expect(html).toContain('name="viewport"');
    expect(html).not.toContain('<script');

    await postJson(`${t.url}/admin/api/suppressions`, { email: 'hidden.entry@example.com' }, ADMIN_AUTH);
    const wrong = await signIn('wrong-token-0123456789');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const wrongPage = await wrong.text();
    expect(wrongPage).toContain('That is not the admin token.');
    expect(wrongPage).not.toContain('hidden.entry');

    const right = await signIn();
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe('/admin');
    const cookie = right.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^optin_admin=[^;]+; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(cookie).not.toContain(TEST_ADMIN_TOKEN);

    // No session, or a tampered one: back to the sign-in form, nothing shown.
    for (const headers of [{}, { cookie: `${cookie.split(';')[0]!.slice(0, -2)}xx` }]) {
      const res = await fetch(`${t.url}/admin/suppressions`, {
        headers: { accept: 'text/html', ...(headers as Record<string, string>) },
        redirect: 'manual',
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/admin');
    }
    // A sign-in posted from another site is refused.
    const crossSite = await fetch(`${t.url}/admin/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.test' },
      body: new URLSearchParams({ token: TEST_ADMIN_TOKEN }).toString(),
      redirect: 'manual',
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get('set-cookie')).toBeNull();
  });

  it('signs out, and the old cookie is refused from then on', async () => {
    const s = await session();
    const other = await session();
    const out = await s.post('/admin/sign-out', { _csrf: s.csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/^optin_admin=; .*Max-Age=0/);

    // Someone who copied the cookie replays it: signed out on every page and in the API.
    const page = await s.get('/admin/suppressions');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/admin');
    expect(await (await s.get('/admin')).text()).toContain('<input type="password" name="token"');
    expect((await s.post('/admin/suppressions', { email: 'after.sign-out@example.com', _csrf: s.csrf })).status).toBe(401);
    const api = await fetch(`${t.url}/admin/api/suppressions`, { headers: { cookie: s.cookie } });
    expect(api.status).toBe(401);
    expect(await entriesOf('after.sign-out@example.com')).toEqual([]);
    // Only that session ended.
    expect((await other.get('/admin/suppressions')).status).toBe(200);
  });
});

describe('CSRF protection', () => {
  it('refuses cookie-authenticated changes without the session token or from another origin', async () => {
    const s = await session();
    const missing = await s.post('/admin/suppressions', { email: 'csrf.victim@example.com' });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain('invalid_csrf_token');
    const other = await session();
    expect(
      (
        await s.post('/admin/suppressions', {
          email: 'csrf.victim@example.com',
          _csrf: other.csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
        })
      ).status,
    ).toBe(403);
    const crossSite = await s.post(
      '/admin/suppressions',
      { email: 'csrf.victim@example.com', _csrf: s.csrf },
      { origin: 'https://evil.test' },
    );
    expect(crossSite.status).toBe(403);
    expect(await crossSite.text()).toContain('cross_site_request');
    // A page under a no-referrer policy posts with "Origin: null": not ours either.
    expect((await s.post('/admin/suppressions', { email: 'csrf.victim@example.com', _csrf: s.csrf }, { origin: 'null' })).status).toBe(403);
    const asJson = await s.post('/admin/suppressions', { email: 'csrf.victim@example.com' }, { accept: 'application/json' });
    expect(await asJson.json()).toEqual({ error: { code: 'invalid_csrf_token', message: expect.any(String) } });
    expect(await entriesOf('csrf.victim@example.com')).toEqual([]);

    // The JSON API takes the cookie too, with the token in a header for changes.
    expect((await fetch(`${t.url}/admin/api/suppressions`, { headers: { cookie: s.cookie } })).status).toBe(200);
    const apiMissing = await fetch(`${t.url}/admin/api/suppressions`, {
      method: 'POST',
      headers: { cookie: s.cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'csrf.victim@example.com' }),
    });
    expect(apiMissing.status).toBe(403);
    expect(await apiMissing.json()).toEqual({ error: { code: 'invalid_csrf_token', message: expect.any(String) } });
    expect(await entriesOf('csrf.victim@example.com')).toEqual([]);

    const ok = await s.post('/admin/suppressions', { email: 'CSRF.Victim@example.com', _csrf: s.csrf }, { origin: t.url });
    expect(ok.status).toBe(303);
    expect(await entriesOf('csrf.victim@example.com')).toHaveLength(1);
    const viaApi = await fetch(`${t.url}/admin/api/suppressions/${(await entriesOf('csrf.victim@example.com'))[0]!.id}`, {
      method: 'DELETE',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
    });
    expect(viaApi.status).toBe(204);
  });
});

describe('the suppression list page', () => {
  it('lists, searches, filters, pages, adds and lifts (with a reason)', async () => {
    const s = await session();
    for (let i = 0; i < 55; i += 1)
      await postJson(
        `${t.url}/admin/api/suppressions`,
        { email: `paged${String(i).padStart(2, '0')}@paging.example`, reason: 'bounced' },
        ADMIN_AUTH,
      );
    const first = await (await s.get('/admin/suppressions?q=paging.example&reason=bounced')).text();
    expect(first).toContain('<input type="search" name="q" value="paging.example"');
    expect(first.match(/@paging\.example<\/a>/g)).toHaveLength(50);
    expect(first).toContain('paged54@paging.example');
    const next = /<a rel="next" href="([^"]+)"/.exec(first)![1]!.replaceAll('&amp;', '&');
    const second = await (await s.get(next)).text();
    expect(second.match(/@paging\.example<\/a>/g)).toHaveLength(5);
    expect(second).toContain('paged00@paging.example');
    expect(second).not.toContain('rel="next"');
    expect(await (await s.get('/admin/suppressions?q=paging.example&reason=manual')).text()).toContain('No entries match.');

    const added = await s.post('/admin/suppressions', {
      email: 'Page.Added@Example.com',
      reason: 'complained',
      list: 'default',
      _csrf: s.csrf,
    });
    expect(added.status).toBe(303);
    const shown = await (await s.get(added.headers.get('location')!)).text();
    expect(shown).toContain('The address is on the suppression list.');
    expect(shown).toContain('page.added@example.com');
    const [entry] = await entriesOf('page.added@example.com');
    expect(entry).toMatchObject({ reason: 'complained', source: 'admin' });

    expect((await s.post(`/admin/suppressions/${entry!.id}/lift`, { _csrf: s.csrf })).status).toBe(400);
    expect(await entriesOf('page.added@example.com')).toHaveLength(1);
    const lifted = await s.post(`/admin/suppressions/${entry!.id}/lift`, { reason: 'asked by phone', _csrf: s.csrf });
    expect(lifted.status).toBe(303);
    expect(await entriesOf('page.added@example.com')).toEqual([]);
    const { consentEvents } = t.service.database.tables;
    const events = await t.service.database.db.select().from(consentEvents).where(eq(consentEvents.action, 'suppression_lifted'));
    expect(events.some((e) => e.detail?.includes('asked by phone'))).toBe(true);
    expect((await s.post('/admin/suppressions/99999999/lift', { reason: 'x', _csrf: s.csrf })).status).toBe(404);
  });
});

describe('the contact view', () => {
  it('shows subscriptions and the consent trail, and erases only after the address is typed', async () => {
    const s = await session();
    expect(
      (
        await postJson(
          `${t.url}/subscribe`,
          { email: 'viewed@example.com' },
          { 'user-agent': 'ConsoleTest/2.0', referer: 'https://site.test/form' },
        )
      ).status,
    ).toBe(202);
    const page = await (await s.get('/admin/contacts?email=Viewed%40example.com')).text();
    expect(page).toContain('subscribe_requested');
    expect(page).toContain('ConsoleTest/2.0');
    expect(page).toContain('https://site.test/form');
    expect(page).toContain('pending');
    expect(page).toContain('href="/admin/api/contacts/viewed%40example.com/export"');

    const mismatch = await s.post('/admin/contacts/erase', { email: 'viewed@example.com', confirm: 'other@example.com', _csrf: s.csrf });
    expect(mismatch.status).toBe(400);
    expect((await s.get('/admin/contacts?email=viewed%40example.com')).status).toBe(200);
    const erased = await s.post('/admin/contacts/erase', { email: 'viewed@example.com', confirm: 'VIEWED@example.com', _csrf: s.csrf });
    expect(erased.status).toBe(200);
    expect(await erased.text()).toContain('Contact erased');
    const gone = await s.get('/admin/contacts?email=viewed%40example.com');
    expect(gone.status).toBe(404);
    expect(gone.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});

describe('CSV export and import', () => {
  const upload = (path: string, csv: string, headers: Record<string, string>) => {
    const form = new FormData();
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'list.csv');
    return fetch(`${t.url}${path}`, { method: 'POST', body: form, headers, redirect: 'manual' });
  };

  it('imports a CSV through the API, counting added, already present and invalid rows', async () => {
    await postJson(`${t.url}/admin/api/suppressions`, { email: 'already@import.example' }, ADMIN_AUTH);
    const csv = [
      'email,reason,list',
      'one@import.example,,',
      'TWO@Import.Example,bounced,default',
      'already@import.example,,',
      'one@import.example,,',
      'not an address,,',
      'three@import.example,nonsense,',
      'four@import.example,,no-such-list',
      '"five@import.example",complained,',
      '',
    ].join('\r\n');
    const res = await upload('/admin/api/suppressions/import', csv, ADMIN_AUTH);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      added: 3,
      alreadyPresent: 2,
      invalid: 3,
      problems: [
        { row: 6, message: expect.any(String) },
        { row: 7, message: 'Unknown reason "nonsense".' },
        { row: 8, message: 'There is no list called "no-such-list".' },
      ],
    });
    expect(await entriesOf('two@import.example')).toEqual([expect.objectContaining({ reason: 'bounced', source: 'import' })]);
    expect(await entriesOf('five@import.example')).toEqual([expect.objectContaining({ reason: 'complained' })]);

    // A headerless file: one address per row.
    const plain = await upload('/admin/api/suppressions/import', 'six@import.example\nseven@import.example\n', ADMIN_AUTH);
    expect(await plain.json()).toMatchObject({ added: 2, alreadyPresent: 0, invalid: 0 });

    const broken = await upload('/admin/api/suppressions/import', 'email\n"eight@import.example\n', ADMIN_AUTH);
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({ error: { code: 'invalid_csv', message: expect.any(String) } });
    const noFile = await fetch(`${t.url}/admin/api/suppressions/import`, { method: 'POST', body: new FormData(), headers: ADMIN_AUTH });
    expect(noFile.status).toBe(400);
    expect((await upload('/admin/api/suppressions/import', 'nine@import.example', {})).status).toBe(401);
  });

  it('a malformed CSV is a 400 naming the line, and the rows before it are imported', async () => {
    const csv = 'email\nfirst@malformed.example\nsecond@malformed.example\n"third@malformed.example\nfourth@malformed.example\n';
    const res = await upload('/admin/api/suppressions/import', csv, ADMIN_AUTH);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('invalid_csv');
    expect(error.message).toMatch(/\bline 4\b/);
    expect(error.message).toContain('2 added');
    expect(await entriesOf('first@malformed.example')).toHaveLength(1);
    expect(await entriesOf('second@malformed.example')).toHaveLength(1);
    expect(await entriesOf('third@malformed.example')).toEqual([]);
  });

  it('a stray quote inside an unquoted field is an invalid row, not a failed import', async () => {
    const csv = 'email\nbefore@stray.example\na"b@stray.example\nx@stray.example"\nafter@stray.example\n';
    const res = await upload('/admin/api/suppressions/import', csv, ADMIN_AUTH);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      added: 2,
      alreadyPresent: 0,
      invalid: 2,
      problems: [
        { row: 3, message: expect.any(String) },
        { row: 4, message: expect.any(String) },
      ],
    });
    expect(await entriesOf('before@stray.example')).toHaveLength(1);
    expect(await entriesOf('after@stray.example')).toHaveLength(1);
  });

  it('the console shows a malformed CSV as an error page naming the line, with the rows before it imported', async () => {
    const s = await session();
    const page = await (await s.get('/admin/suppressions')).text();
    const action = /action="(\/admin\/suppressions\/import\?[^"]+)"/.exec(page)![1]!.replaceAll('&amp;', '&');
    const res = await upload(action, 'console.first@malformed.example\n"console.second@malformed.example\n', {
      cookie: s.cookie,
      accept: 'text/html',
    });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('invalid_csv');
    expect(html).toMatch(/\bline 2\b/);
    expect(await entriesOf('console.first@malformed.example')).toHaveLength(1);

    const stray = await upload(action, 'console.a"b@stray.example\nconsole.ok@stray.example\n', { cookie: s.cookie, accept: 'text/html' });
    expect(stray.status).toBe(200);
    const result = await stray.text();
    expect(result).toContain('id="added">1<');
    expect(result).toContain('id="invalid">1<');
  });

  it('imports from the console form only with the CSRF token', async () => {
    const s = await session();
    const refused = await upload('/admin/suppressions/import', 'console@import.example\n', { cookie: s.cookie });
    expect(refused.status).toBe(403);
    expect(await entriesOf('console@import.example')).toEqual([]);
    const page = await (await s.get('/admin/suppressions')).text();
    const action = /action="(\/admin\/suppressions\/import\?[^"]+)"/.exec(page)![1]!.replaceAll('&amp;', '&');
    const res = await upload(action, 'console@import.example\nbad-row\n', { cookie: s.cookie, accept: 'text/html' });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('id="added">1<');
    expect(html).toContain('id="invalid">1<');
    expect(await entriesOf('console@import.example')).toHaveLength(1);
  });

  it('exports every entry as CSV, erased ones without an address, with formula cells defused', async () => {
    await postJson(`${t.url}/admin/api/suppressions`, { email: '=cmd@formula.example', list: 'default' }, ADMIN_AUTH);
    await postJson(`${t.url}/admin/api/suppressions`, { email: 'erased.export@example.com' }, ADMIN_AUTH);
    expect((await fetch(`${t.url}/admin/api/contacts/erased.export%40example.com`, { method: 'DELETE', headers: ADMIN_AUTH })).status).toBe(
      204,
    );

    const res = await fetch(`${t.url}/admin/api/suppressions.csv`, { headers: ADMIN_AUTH });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="?suppressions\.csv"?$/);
    const lines = (await res.text()).split('\r\n');
    expect(lines[0]).toBe('email,reason,list,created_at,domain');
    expect(lines.at(-1)).toBe('');
    const rows = lines.slice(1, -1);
    expect(rows).toHaveLength((await t.service.database.db.select().from(t.service.database.tables.suppressions)).length);
    expect(rows).toContainEqual(expect.stringMatching(/^'=cmd@formula\.example,manual,default,\d{4}-\d\d-\d\dT/));
    expect(rows).toContainEqual(expect.stringMatching(/^,erased,,\d{4}-/));
    expect(rows.join('\n')).not.toContain('erased.export');
    expect((await fetch(`${t.url}/admin/api/suppressions.csv`)).status).toBe(401);
  });
});

describe('queue dashboard', () => {
  it('shows the mail queue to a signed-in admin only, read-only, under its own CSP', async () => {
    const signedOut = await fetch(`${t.url}/admin/queues`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(signedOut.status).toBe(303);
    expect(signedOut.headers.get('location')).toBe('/admin');
    expect(
      (await fetch(`${t.url}/admin/queues/api/queues`, { headers: { accept: 'application/json' }, redirect: 'manual' })).status,
    ).not.toBe(200);

    const browser = await session();
    const page = await browser.get('/admin/queues');
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);

    const api = await fetch(`${t.url}/admin/queues/api/queues?activeQueue=mail&status=latest&page=1&jobsPerPage=10`, {
      headers: ADMIN_AUTH,
    });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues.map((q) => [q.name, q.readOnlyMode])).toEqual([['mail', true]]);

    const change = await fetch(`${t.url}/admin/queues/api/queues/mail/clean/failed`, {
      method: 'PUT',
      headers: { ...ADMIN_AUTH, cookie: browser.cookie },
    });
    expect(change.status).toBe(405);
  });
});
