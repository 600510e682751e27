import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suppressAddress } from '../../src/features/policy/suppressions.js';
import { canary } from '../support/canary.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { startTestService, TEST_ADMIN_TOKEN, TEST_SECRET, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${t.url}/admin/api${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
const addEntry = (body: Record<string, unknown>) => postJson(`${t.url}/admin/api/suppressions`, body, auth);
const entriesOf = async (email: string) => {
  const {
    db,
    tables: { suppressions },
  } = t.service.database;
  return await db.select().from(suppressions).where(eq(suppressions.email, email));
};

interface Page {
  items: { id: number; email: string | null; reason: string; list: string | null; source: string; createdAt: string }[];
  nextCursor: string | null;
}
interface ContactRecord {
  email: string;
  subscriptions: { list: string; status: string }[];
  consent: {
    action: string;
    list: string | null;
    at: string;
    ip: string | null;
    userAgent: string | null;
    source: string | null;
    detail: string | null;
  }[];
  suppressions: unknown[];
}

const search = async (query: string): Promise<Page> => {
  const res = await api(`/suppressions?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
};

describe('admin authentication', () => {
  it('answers 401 in the JSON error shape without the right bearer token', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: `Basic ${TEST_ADMIN_TOKEN}` },
      { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` },
    ];
    for (const headers of attempts) {
      const res = await fetch(`${t.url}/admin/api/suppressions`, { headers: { accept: 'text/html', ...headers } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    }
    const refused = await postJson(`${t.url}/admin/api/suppressions`, { email: 'sneaky@example.com' });
    expect(refused.status).toBe(401);
    expect(await entriesOf('sneaky@example.com')).toHaveLength(0);
    expect((await api('/suppressions')).status).toBe(200);
  });

  it('says the admin API is off when no ADMIN_TOKEN is configured', async () => {
    const off = await startTestService({ env: { ADMIN_TOKEN: '' }, roles: ['api'] });
    try {
      for (const headers of [{}, auth]) {
        const res = await fetch(`${off.url}/admin/api/suppressions`, { headers });
        expect(res.status).toBe(503);
        expect(await res.json()).toEqual({ error: { code: 'admin_disabled', message: expect.stringContaining('ADMIN_TOKEN') } });
      }
    } finally {
      await off.stop();
    }
  });
});

describe('the suppression list', () => {
  it('adds an entry by hand (201, idempotent), which blocks signups in any case', async () => {
    const first = await addEntry({ email: 'Manual.Block@Example.COM', reason: 'manual' });
    expect(first.status).toBe(201);
    const entry = (await first.json()) as Page['items'][number];
    expect(entry).toEqual({
      id: expect.any(Number),
      email: 'manual.block@example.com',
      reason: 'manual',
      list: null,
      source: 'admin',
      createdAt: expect.any(String),
    });
    const again = await addEntry({ email: 'manual.block@example.com' });
    expect(again.status).toBe(201);
    expect(((await again.json()) as { id: number }).id).toBe(entry.id);
    const forList = await addEntry({ email: 'manual.block@example.com', list: 'default', reason: 'bounced' });
    expect(forList.status).toBe(201);
    expect(await forList.json()).toMatchObject({ list: 'default', reason: 'bounced' });
    expect(await entriesOf('manual.block@example.com')).toHaveLength(2);

    expect((await postJson(`${t.url}/subscribe`, { email: 'MANUAL.block@example.com' })).status).toBe(202);
    await canary(t);
    expect(t.smtp.to('manual.block@example.com')).toHaveLength(0);
  });

  it('refuses bad input with the JSON error shape', async () => {
    const cases: [Promise<Response>, number, string][] = [
      [addEntry({ email: 'not-an-address' }), 400, 'invalid_email'],
      [addEntry({ email: 'x@example.com', reason: 'whim' }), 400, 'invalid_reason'],
      [addEntry({ email: 'x@example.com', list: 'no-such-list' }), 404, 'unknown_list'],
      [api('/suppressions?cursor=bm9wZQ'), 400, 'invalid_cursor'],
      [api('/suppressions?limit=0'), 400, 'invalid_limit'],
      [api('/suppressions?limit=abc'), 400, 'invalid_limit'],
      [api('/suppressions?reason=whim'), 400, 'invalid_reason'],
      [api('/suppressions/999999', { method: 'DELETE' }), 404, 'unknown_suppression'],
      [api('/contacts/nobody%40example.com'), 404, 'unknown_contact'],
      [api('/contacts/garbage'), 400, 'invalid_email'],
      [api('/nothing-here'), 404, 'not_found'],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      expect([res.status, await res.json()]).toEqual([status, { error: { code, message: expect.any(String) } }]);
    }
  });

  it('pages newest first over more entries than one page, with an opaque cursor', async () => {
    const base = Date.UTC(2020, 0, 1);
    // Ten share each timestamp, so the id must break ties between pages.
    await t.service.database.transaction(async (tx) => {
      for (let i = 0; i < 130; i++) {
        await suppressAddress(tx, [TEST_SECRET], {
          emailKey: `page-${String(i).padStart(3, '0')}@paging.test`,
          domain: 'paging.test',
          listId: null,
          reason: i % 2 === 0 ? 'bounced' : 'unsubscribed',
          source: 'test',
          at: base + Math.floor(i / 10) * 1000,
        });
      }
    });
    const seen: Page['items'] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const page = await search(`q=paging.test&limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(130);
    expect(new Set(seen.map((i) => i.id)).size).toBe(130);
    expect(seen[0]!.email).toBe('page-129@paging.test');
    expect(seen.at(-1)!.email).toBe('page-000@paging.test');
    const order = seen.map((i) => [Date.parse(i.createdAt), i.id] as const);
    for (let k = 1; k < order.length; k++) {
      const [a, b] = [order[k - 1]!, order[k]!];
      expect(a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])).toBe(true);
    }

    const bounced = await search('q=paging.test&reason=bounced&limit=500');
    expect(bounced.items).toHaveLength(65);
    expect(bounced.nextCursor).toBeNull();

    // Without q, the whole list pages the same way.
    const all = await search('limit=100');
    expect(all.items).toHaveLength(100);
    expect(all.nextCursor).toEqual(expect.any(String));
  });

  it('finds an exact address in any case (even once erased), a domain, or a prefix; filters by list', async () => {
    const at = Date.now();
    await t.service.database.transaction(async (tx) => {
      for (const [emailKey, listId] of [
        ['ann@search.test', null],
        ['anna@search.test', 1],
        ['bob@search.test', null],
        ['ann@elsewhere.test', null],
      ] as const) {
        await suppressAddress(tx, [TEST_SECRET], {
          emailKey,
          domain: emailKey.split('@')[1]!,
          listId,
          reason: 'manual',
          source: 'test',
          at,
        });
      }
    });
    const emails = (page: Page) => page.items.map((i) => i.email).sort();
    expect(emails(await search('q=ANN%40Search.TEST'))).toEqual(['ann@search.test']);
    expect(emails(await search('q=search.test'))).toEqual(['ann@search.test', 'anna@search.test', 'bob@search.test']);
    expect(emails(await search('q=ann'))).toEqual(['ann@elsewhere.test', 'ann@search.test', 'anna@search.test']);
    expect(emails(await search('q=ann%40sea'))).toEqual(['ann@search.test']);
    expect(emails(await search('q=search.test&list=default'))).toEqual(['anna@search.test']);
    expect(emails(await search('q=search.test&list=*'))).toEqual(['ann@search.test', 'bob@search.test']);

    const erasedRows = await t.service.database.transaction(
      async ({ db, tables: { suppressions } }) =>
        await db
          .update(suppressions)
          .set({ email: null })
          .where(eq(suppressions.email, 'bob@search.test'))
          .returning({ id: suppressions.id }),
    );
    expect(erasedRows).toHaveLength(1);
    const erased = await search('q=Bob%40search.test');
    expect(erased.items).toMatchObject([{ email: null, reason: 'manual' }]);
  });

  it('lifts an entry (204), logging the admin’s reason, after which the address can sign up again', async () => {
    // A confirmed subscriber who then opts out.
    await postJson(
      `${t.url}/subscribe`,
      { email: 'lift.me@example.com' },
      { referer: 'https://site.test/signup', 'user-agent': 'Browser/2' },
    );
    const confirmation = await waitFor(() => t.smtp.to('lift.me@example.com')[0], 5000, 'confirmation');
    await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) }, { 'user-agent': 'Browser/2' });
    const welcome = await waitFor(() => t.smtp.to('lift.me@example.com')[1], 5000, 'welcome');
    const unsubscribe = new URL(linkIn(welcome, 'unsubscribe'));
    expect((await oneClick(`${t.url}/unsubscribe${unsubscribe.search}`)).status).toBe(200);

    const found = await search('q=lift.me%40example.com');
    expect(found.items).toHaveLength(1);
    const id = found.items[0]!.id;
    const lifted = await api(`/suppressions/${id}`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'asked by phone, ticket 42' }),
    });
    expect(lifted.status).toBe(204);
    expect((await search('q=lift.me%40example.com')).items).toHaveLength(0);
    expect((await api(`/suppressions/${id}`, { method: 'DELETE' })).status).toBe(404);

    await postJson(`${t.url}/subscribe`, { email: 'lift.me@example.com' });
    await waitFor(() => t.smtp.to('lift.me@example.com')[2], 5000, 'a new confirmation');

    // The contact record: subscriptions and the whole consent trail, the address matched in canonical form.
    const res = await api('/contacts/Lift.Me%40EXAMPLE.com');
    expect(res.status).toBe(200);
    const record = (await res.json()) as ContactRecord;
    expect(record.email).toBe('lift.me@example.com');
    expect(record.subscriptions).toMatchObject([{ list: 'default', status: 'pending' }]);
    expect(record.consent.map((e) => e.action)).toEqual([
      'subscribe_requested',
      'confirmed',
      'unsubscribed',
      'suppression_lifted',
      'subscribe_requested',
    ]);
    expect(record.consent[0]).toEqual({
      action: 'subscribe_requested',
      list: 'default',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      ip: expect.stringMatching(/127\.0\.0\.1/),
      userAgent: 'Browser/2',
      source: 'https://site.test/signup',
      detail: null,
      consentVersion: null,
      consentText: null,
    });
    expect(record.consent[1]).toMatchObject({ action: 'confirmed', list: 'default', userAgent: 'Browser/2' });
    expect(record.consent[3]).toMatchObject({
      action: 'suppression_lifted',
      list: 'default',
      detail: expect.stringContaining('asked by phone, ticket 42'),
    });
    expect(record.suppressions).toEqual([]);
    const { consentEvents } = t.service.database.tables;
    const trail = await t.service.database.db.select().from(consentEvents).where(eq(consentEvents.action, 'suppression_lifted'));
    expect(trail).toHaveLength(1);
  });
});
