import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_AUTH, consoleCookie, startTestService, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'] });
});
afterAll(async () => {
  await t?.stop();
});

/** A signed-in browser, reduced to its cookie and the CSRF token its pages carry. */
async function session() {
  const cookie = await consoleCookie(t.url);
  const get = (path: string) => fetch(`${t.url}${path}`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await get('/admin/lists')).text())![1]!;
  const post = (path: string, fields: Record<string, string>, withCsrf = true) =>
    fetch(`${t.url}${path}`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams(withCsrf ? { _csrf: csrf, ...fields } : fields).toString(),
      redirect: 'manual',
    });
  return { get, post };
}

const apiList = async (slug: string) =>
  (await fetch(`${t.url}/admin/api/lists/${slug}`, { headers: ADMIN_AUTH })).json() as Promise<Record<string, unknown>>;

describe('console: Lists pages', () => {
  it('sends a signed-out browser to the sign-in form', async () => {
    const res = await fetch(`${t.url}/admin/lists`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin');
  });

  it('lists the lists with their counts and links, and creates one from the form', async () => {
    const browser = await session();
    const page = await (await browser.get('/admin/lists')).text();
    expect(page).toContain('<a href="/admin/lists/default">Newsletter</a>');
    expect(page).toContain('<form method="post" action="/admin/lists">');
    expect(page).not.toContain('<script');

    const created = await browser.post('/admin/lists', {
      slug: 'offers',
      'name.en': 'Special offers',
      'name.fr': 'Offres spéciales',
      'description.en': 'One mail a month.',
      'description.fr': '',
      'welcomeMessage.en': 'Your code: **WELCOME10**\n\nSee you soon.',
      'welcomeMessage.fr': '',
      thankYouUrl: 'https://shop.example.org/thanks',
      confirmedUrl: '',
      fromName: 'The shop',
      fromEmail: '',
      goodbyeEmail: 'on',
    });
    expect(created.status).toBe(303);
    expect(created.headers.get('location')).toBe('/admin/lists/offers/edit?notice=created');
    expect(await apiList('offers')).toMatchObject({
      name: { en: 'Special offers', fr: 'Offres spéciales' },
      description: { en: 'One mail a month.' },
      welcomeMessage: { en: 'Your code: **WELCOME10**\n\nSee you soon.' },
      thankYouUrl: 'https://shop.example.org/thanks',
      confirmedUrl: null,
      fromName: 'The shop',
      fromEmail: null,
      public: false,
      goodbyeEmail: true,
    });
    expect(await (await browser.get('/admin/lists')).text()).toContain('<a href="/admin/lists/offers">Special offers</a>');
  });

  it('edits and archives a list from its edit page, and shows a field problem as a page', async () => {
    const browser = await session();
    expect((await browser.post('/admin/lists', { slug: 'events', 'name.en': 'Events', 'name.fr': 'Events' })).status).toBe(303);
    // The same words in every box are one plain name.
    expect(await apiList('events')).toMatchObject({ name: 'Events' });
    const edit = await (await browser.get('/admin/lists/events/edit')).text();
    expect(edit).toContain('value="Events"');
    expect(edit).toContain('action="/admin/lists/events/archive"');

    const saved = await browser.post('/admin/lists/events/edit', {
      'name.en': 'Events',
      'name.fr': 'Événements',
      public: 'on',
      confirmedUrl: 'https://example.org/welcome',
    });
    expect(saved.status).toBe(303);
    expect(await apiList('events')).toMatchObject({
      name: { en: 'Events', fr: 'Événements' },
      public: true,
      confirmedUrl: 'https://example.org/welcome',
      goodbyeEmail: false,
    });

    const bad = await browser.post('/admin/lists/events/edit', { 'name.en': 'Events', fromEmail: 'someone@elsewhere.example' });
    expect(bad.status).toBe(400);
    const problem = await bad.text();
    expect(problem).toContain('fromEmail');
    expect(problem).not.toContain('<script');

    expect((await browser.post('/admin/lists/events/archive', { archived: 'true' })).headers.get('location')).toBe(
      '/admin/lists/events/edit?notice=archived',
    );
    expect(await apiList('events')).toMatchObject({ archived: true });
    expect(await (await browser.get('/admin/lists/events/edit')).text()).toContain('Unarchive');
    expect((await browser.post('/admin/lists/events/archive', { archived: 'false' })).status).toBe(303);
    expect(await apiList('events')).toMatchObject({ archived: false });
  });

  it('refuses a form post without the CSRF token, and answers 404 for an unknown list', async () => {
    const browser = await session();
    const forged = await browser.post('/admin/lists', { slug: 'forged', 'name.en': 'Forged' }, false);
    expect(forged.status).toBe(403);
    expect((await fetch(`${t.url}/admin/api/lists/forged`, { headers: ADMIN_AUTH })).status).toBe(404);
    expect((await browser.get('/admin/lists/nope/edit')).status).toBe(404);
  });
});
