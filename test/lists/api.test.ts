import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const api = (path: string, init: RequestInit & { json?: unknown } = {}) =>
  fetch(`${t.url}/admin/api${path}`, {
    ...init,
    headers: { ...ADMIN_AUTH, accept: 'application/json', ...(init.json === undefined ? {} : { 'content-type': 'application/json' }) },
    body: init.json === undefined ? init.body : JSON.stringify(init.json),
  });
const create = (body: unknown) => api('/lists', { method: 'POST', json: body });
const patch = (slug: string, body: unknown) => api(`/lists/${slug}`, { method: 'PATCH', json: body });
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

interface ListJson {
  slug: string;
  name: unknown;
  description: unknown;
  archived: boolean;
  counts: { pending: number; confirmed: number; unsubscribed: number };
  [field: string]: unknown;
}

describe('lists API', () => {
  it('creates, reads, lists and edits a list with every field', async () => {
    const created = await create({
      slug: 'weekly',
      name: { en: 'Weekly news', fr: 'La lettre hebdomadaire' },
      description: 'What happened this week.',
      thankYouUrl: 'https://news.example.org/thanks',
      confirmedUrl: null,
      fromName: 'Weekly desk',
      fromEmail: 'weekly@example.org',
      public: true,
      welcomeMessage: { en: '**Welcome!**', fr: '**Bienvenue !**' },
      goodbyeEmail: true,
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/admin/api/lists/weekly');
    const body = (await created.json()) as ListJson;
    expect(body).toMatchObject({
      slug: 'weekly',
      name: { en: 'Weekly news', fr: 'La lettre hebdomadaire' },
      description: 'What happened this week.',
      thankYouUrl: 'https://news.example.org/thanks',
      confirmedUrl: null,
      fromName: 'Weekly desk',
      fromEmail: 'weekly@example.org',
      public: true,
      archived: false,
      welcomeMessage: { en: '**Welcome!**', fr: '**Bienvenue !**' },
      goodbyeEmail: true,
      requireConsent: false,
      counts: { pending: 0, confirmed: 0, unsubscribed: 0 },
    });
    // The plain name every reader falls back on is the default locale's.
    const {
      db,
      tables: { lists },
    } = t.service.database;
    const [row] = await db.select().from(lists).where(eq(lists.slug, 'weekly'));
    expect(row).toMatchObject({ name: 'Weekly news', nameByLocale: JSON.stringify({ en: 'Weekly news', fr: 'La lettre hebdomadaire' }) });

    const edited = await patch('weekly', { name: 'Weekly', description: null, fromName: null, public: false });
    expect(edited.status).toBe(200);
    expect(await edited.json()).toMatchObject({
      slug: 'weekly',
      name: 'Weekly',
      description: null,
      fromName: null,
      fromEmail: 'weekly@example.org',
      public: false,
      goodbyeEmail: true,
    });

    const one = await api('/lists/weekly');
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ slug: 'weekly', name: 'Weekly' });
    const all = (await (await api('/lists')).json()) as { items: ListJson[] };
    expect(all.items.map((l) => l.slug)).toEqual(expect.arrayContaining(['default', 'weekly']));
  });

  it('answers 400 invalid_list naming the field for every bad value, and writes nothing', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'No slug' }, 'slug'],
      [{ slug: 'Bad Slug', name: 'x' }, 'slug'],
      [{ slug: 'x'.repeat(65), name: 'x' }, 'slug'],
      [{ slug: 'ok-slug' }, 'name'],
      [{ slug: 'ok-slug', name: '' }, 'name'],
      [{ slug: 'ok-slug', name: { de: 'Wöchentlich' } }, 'name'],
      [{ slug: 'ok-slug', name: 'x', thankYouUrl: 'javascript:alert(1)' }, 'thankYouUrl'],
      [{ slug: 'ok-slug', name: 'x', confirmedUrl: 'not a url' }, 'confirmedUrl'],
      [{ slug: 'ok-slug', name: 'x', fromEmail: 'not-an-address' }, 'fromEmail'],
      // The site sends from example.org: a From on another domain would fail DMARC.
      [{ slug: 'ok-slug', name: 'x', fromEmail: 'news@elsewhere.example' }, 'fromEmail'],
      [{ slug: 'ok-slug', name: 'x', fromName: 'Evil\r\nBcc: x@example.com' }, 'fromName'],
      [{ slug: 'ok-slug', name: 'x', public: 'yes' }, 'public'],
      [{ slug: 'ok-slug', name: 'x', goodbyeEmail: 1 }, 'goodbyeEmail'],
      [{ slug: 'ok-slug', name: 'x', welcomeMessage: 42 }, 'welcomeMessage'],
      [{ slug: 'ok-slug', name: 'x', colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of cases) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const error = await errorOf(res);
      expect(error.code).toBe('invalid_list');
      expect(error.message).toContain(`"${field}"`);
    }
    expect((await api('/lists/ok-slug')).status).toBe(404);
    // A subdomain of the sending domain aligns (relaxed DMARC).
    expect((await create({ slug: 'sub-sender', name: 'Sub', fromEmail: 'news@mail.example.org' })).status).toBe(201);
  });

  it('keeps the slug fixed, refuses a second list of the same slug and answers 404 unknown_list', async () => {
    expect((await create({ slug: 'fixed', name: 'Fixed' })).status).toBe(201);
    const again = await create({ slug: 'fixed', name: 'Again' });
    expect(again.status).toBe(409);
    expect((await errorOf(again)).code).toBe('list_exists');
    const renamed = await patch('fixed', { slug: 'moved' });
    expect(renamed.status).toBe(400);
    expect((await errorOf(renamed)).message).toContain('"slug"');
    const bad = await patch('fixed', { thankYouUrl: 'ftp://example.org/' });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).message).toContain('"thankYouUrl"');
    for (const res of [await api('/lists/nope'), await patch('nope', { name: 'x' }), await api('/lists/nope', { method: 'DELETE' })]) {
      expect(res.status).toBe(404);
      expect((await errorOf(res)).code).toBe('unknown_list');
    }
  });

  it('needs the admin token', async () => {
    const res = await fetch(`${t.url}/admin/api/lists`);
    expect(res.status).toBe(401);
    expect((await postJson(`${t.url}/admin/api/lists`, { slug: 'sneaky', name: 'x' })).status).toBe(401);
    expect((await api('/lists/sneaky')).status).toBe(404);
  });

  it('deletes an unused list, refuses one with subscriptions (409 list_in_use) and counts them by state', async () => {
    expect((await create({ slug: 'typo', name: 'Typo' })).status).toBe(201);
    expect((await api('/lists/typo', { method: 'DELETE' })).status).toBe(204);
    expect((await api('/lists/typo')).status).toBe(404);

    expect((await create({ slug: 'used', name: 'Used' })).status).toBe(201);
    expect((await postJson(`${t.url}/subscribe`, { email: 'counted@example.com', list: 'used' })).status).toBe(202);
    await waitFor(() => t.smtp.to('counted@example.com')[0]);
    const refused = await api('/lists/used', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect((await errorOf(refused)).code).toBe('list_in_use');
    expect(await (await api('/lists/used')).json()).toMatchObject({ counts: { pending: 1, confirmed: 0, unsubscribed: 0 } });
  });

  it('archives a list: signups get 404 unknown_list, opt-outs from it still work, unarchiving reopens it', async () => {
    expect((await create({ slug: 'seasonal', name: 'Seasonal' })).status).toBe(201);
    const email = 'archived-reader@example.com';
    expect((await postJson(`${t.url}/subscribe`, { email, list: 'seasonal' })).status).toBe(202);
    const confirmation = await waitFor(() => t.smtp.to(email)[0]);
    expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
    const welcome = await waitFor(() => t.smtp.to(email)[1]);

    const archived = await patch('seasonal', { archived: true });
    expect(await archived.json()).toMatchObject({ archived: true, counts: { confirmed: 1 } });
    for (const res of [
      await postJson(`${t.url}/subscribe`, { email: 'late@example.com', list: 'seasonal' }),
      await postForm(`${t.url}/subscribe`, { email: 'late@example.com', list: 'seasonal' }),
    ]) {
      expect(res.status).toBe(404);
    }
    expect((await errorOf(await postJson(`${t.url}/subscribe`, { email: 'late@example.com', list: 'seasonal' }))).code).toBe(
      'unknown_list',
    );

    // The list's last mail still carries a working unsubscribe link.
    expect((await oneClick(`${t.url}/unsubscribe?token=${tokenOf(linkIn(welcome, 'unsubscribe'))}`)).status).toBe(200);
    expect(await (await api('/lists/seasonal')).json()).toMatchObject({ archived: true, counts: { confirmed: 0, unsubscribed: 1 } });

    expect(await (await patch('seasonal', { archived: false })).json()).toMatchObject({ archived: false });
    expect((await postJson(`${t.url}/subscribe`, { email: 'late@example.com', list: 'seasonal' })).status).toBe(202);
  });
});
