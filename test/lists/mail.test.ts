import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, consoleCookie, startTestService, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';

/** What a list's settings change in the mail and pages of its subscribers, through the real service. */

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  const lists = [
    {
      slug: 'weekly',
      name: { en: 'Weekly news', fr: 'La lettre hebdomadaire' },
      description: { en: 'The week in five minutes.', fr: 'La semaine en cinq minutes.' },
      welcomeMessage: {
        en: 'Your code: **WELCOME10**\n\n![logo](https://cdn.example.org/logo.png) ![pixel](http://track.example.net/p.gif)\n\n<script>alert(1)</script>\n\n[guide](javascript:alert(1))',
        fr: 'Votre code\u00a0: **BIENVENUE10**',
      },
      fromName: 'Weekly desk',
      fromEmail: 'weekly@example.org',
      confirmedUrl: 'https://news.example.org/welcome',
    },
    { slug: 'plain', name: 'Plain list' },
  ];
  for (const list of lists) expect((await postJson(`${t.url}/admin/api/lists`, list, ADMIN_AUTH)).status).toBe(201);
});
afterAll(async () => {
  await t?.stop();
});

const mailOf = (email: string, kind: string) =>
  waitFor(() => t.smtp.to(email).find((m) => m.header('feedback-id')?.includes(`:${kind}:`)), 5000, `${kind} for ${email}`);

async function signup(email: string, list: string, locale = 'en'): Promise<ReceivedMail> {
  expect((await postJson(`${t.url}/subscribe`, { email, list, locale })).status).toBe(202);
  return mailOf(email, 'confirmation');
}

async function entriesOf(email: string) {
  const {
    db,
    tables: { suppressions },
  } = t.service.database;
  return db.select().from(suppressions).where(eq(suppressions.email, email));
}

async function statusOf(email: string, list: string) {
  const {
    db,
    tables: { contacts, lists, subscriptions },
  } = t.service.database;
  const [row] = await db
    .select({ status: subscriptions.status })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .innerJoin(lists, eq(lists.id, subscriptions.listId))
    .where(and(eq(contacts.emailKey, email), eq(lists.slug, list)));
  return row?.status;
}

describe('a list’s own words and sender', () => {
  it('sends from the list’s sender (the envelope stays the site’s) and names the list in the subscriber’s language', async () => {
    const email = 'sender@example.com';
    const confirmation = await signup(email, 'weekly', 'fr');
    expect(confirmation.parsed.from?.value).toEqual([{ name: 'Weekly desk', address: 'weekly@example.org' }]);
    expect(confirmation.envelopeFrom).toBe('news@example.org');
    expect(confirmation.header('message-id')).toMatch(/@example\.org>$/);
    expect(confirmation.parsed.subject).toContain('La lettre hebdomadaire');
    expect(confirmation.parsed.text).toContain('La lettre hebdomadaire');

    const page = await (await fetch(`${t.url}/confirm?token=${tokenOf(linkIn(confirmation, 'confirm'))}&locale=fr`)).text();
    expect(page).toContain('La lettre hebdomadaire');

    const plain = await signup('plain-sender@example.com', 'plain');
    expect(plain.parsed.from?.value).toEqual([{ name: 'optin test', address: 'news@example.org' }]);
  });

  it('shows the description and the sanitised welcome message in the welcome mail, in the subscriber’s language', async () => {
    const email = 'welcome-en@example.com';
    const confirmation = await signup(email, 'weekly');
    // The list's confirmedUrl: a browser goes there (303); a program still gets JSON.
    const res = await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('https://news.example.org/welcome');
    const welcome = await mailOf(email, 'welcome');
    const html = welcome.parsed.html as string;
    expect(html).toContain('The week in five minutes.');
    expect(html).toContain('Your code: <strong>WELCOME10</strong>');
    expect(html).toContain('src="https://cdn.example.org/logo.png"');
    expect(html).not.toContain('track.example.net');
    expect(html).not.toMatch(/<script|href="javascript:/i);
    expect(html).toContain('>guide</a>');
    expect(welcome.parsed.text).toContain('The week in five minutes.');
    expect(welcome.parsed.text).toContain('Your code: **WELCOME10**');

    const fr = 'welcome-fr@example.com';
    const frConfirmation = await signup(fr, 'weekly', 'fr');
    const json = await postJson(`${t.url}/confirm`, { token: tokenOf(linkIn(frConfirmation, 'confirm')) });
    expect(json.status).toBe(200);
    expect(await json.json()).toEqual({ status: 'confirmed', list: 'La lettre hebdomadaire' });
    const frWelcome = await mailOf(fr, 'welcome');
    expect(frWelcome.parsed.html as string).toContain('La semaine en cinq minutes.');
    expect(frWelcome.parsed.html as string).toContain('<strong>BIENVENUE10</strong>');

    // Without a confirmedUrl, the built-in page.
    const plain = await signup('welcome-plain@example.com', 'plain');
    expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(plain, 'confirm')) })).status).toBe(200);
  });
});

describe('"It was me — subscribe me"', () => {
  it('after "not me", the confirm link offers it; pressing it confirms and lifts only that block', async () => {
    const email = 'it-was-me@example.com';
    const confirmation = await signup(email, 'plain');
    const confirmToken = tokenOf(linkIn(confirmation, 'confirm'));
    expect((await postForm(`${t.url}/unsubscribe?token=${tokenOf(linkIn(confirmation, 'unsubscribe'))}`, { scope: 'list' })).status).toBe(
      200,
    );
    expect(await statusOf(email, 'plain')).toBe('unsubscribed');
    expect((await entriesOf(email)).map((e) => [e.listId, e.source])).toEqual([[null, 'not me (confirmation email)']]);

    const page = await fetch(`${t.url}/confirm?token=${confirmToken}`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('It was me — subscribe me');
    expect(html).toContain('action="/confirm/it-was-me"');
    // The ordinary confirm still says the request was cancelled.
    expect((await postJson(`${t.url}/confirm`, { token: confirmToken })).status).toBe(409);

    const pressed = await postForm(`${t.url}/confirm/it-was-me`, { token: confirmToken });
    expect(pressed.status).toBe(200);
    expect(await pressed.text()).toContain('Plain list');
    expect(await statusOf(email, 'plain')).toBe('confirmed');
    expect(await entriesOf(email)).toEqual([]);
    await mailOf(email, 'welcome');
    // Pressing again changes nothing.
    expect((await postForm(`${t.url}/confirm/it-was-me`, { token: confirmToken })).status).toBe(200);
  });

  it('answers 409 address_blocked while another entry covers the address, and changes nothing', async () => {
    const email = 'it-was-me-blocked@example.com';
    const confirmation = await signup(email, 'plain');
    const confirmToken = tokenOf(linkIn(confirmation, 'confirm'));
    expect((await postForm(`${t.url}/unsubscribe?token=${tokenOf(linkIn(confirmation, 'unsubscribe'))}`, { scope: 'list' })).status).toBe(
      200,
    );
    expect((await postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual', list: 'plain' }, ADMIN_AUTH)).status).toBe(201);

    const refused = await postForm(`${t.url}/confirm/it-was-me`, { token: confirmToken });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('address_blocked');
    expect(await statusOf(email, 'plain')).toBe('unsubscribed');
    expect((await entriesOf(email)).map((e) => e.source).sort()).toEqual(['admin', 'not me (confirmation email)']);

    // A pending request's confirm link is not "it was me".
    const pending = await signup('still-pending@example.com', 'plain');
    const open = await postJson(`${t.url}/confirm/it-was-me`, { token: tokenOf(linkIn(pending, 'confirm')) });
    expect(open.status).toBe(409);
    expect(((await open.json()) as { error: { code: string } }).error.code).toBe('subscription_open');
  });
});

describe('a contact’s mail history', () => {
  it('is in the admin API (newest first, with the outbox status) and on the console’s contact page', async () => {
    const email = 'history@example.com';
    const confirmation = await signup(email, 'plain');
    expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
    await mailOf(email, 'welcome');
    const record = await waitFor(async () => {
      const body = (await (await fetch(`${t.url}/admin/api/contacts/${email}`, { headers: ADMIN_AUTH })).json()) as {
        messages: { kind: string; list: string; status: string; createdAt: string; sentAt: string | null; lastError: string | null }[];
      };
      return body.messages.every((m) => m.status === 'sent') && body;
    });
    expect(record.messages.map((m) => [m.kind, m.list, m.status])).toEqual([
      ['welcome', 'plain', 'sent'],
      ['confirmation', 'plain', 'sent'],
    ]);
    expect(record.messages[0]).toMatchObject({ lastError: null, createdAt: expect.any(String), sentAt: expect.any(String) });

    const cookie = await consoleCookie(t.url);
    const page = await (await fetch(`${t.url}/admin/contacts?email=${email}`, { headers: { cookie, accept: 'text/html' } })).text();
    expect(page).toContain('<h2>Mail history</h2>');
    expect(page).toMatch(/<td data-label="Mail">welcome<\/td><td data-label="List">plain<\/td><td data-label="Status">sent<\/td>/);
  });
});
