import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/platform/http/tokens.js';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, TEST_SECRET, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';

/**
 * The preference link never expires and travels with every forwarded mail (issue 25, items 5
 * and 9): another site must not make its holder's browser act on it, and erasing or downloading
 * the data happens only from a one-time link mailed to the address itself.
 */
let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug: 'links', name: 'Link news', createdAt: Date.now(), public: true });
  });
});
afterAll(async () => {
  await t?.stop();
});

const EVIL = 'https://evil.example';
const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

async function subscriber(email: string): Promise<ReceivedMail> {
  expect((await postJson(`${t.url}/subscribe`, { email, list: 'links' })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'confirmation');
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  return waitFor(() => t.smtp.to(email)[1], 5000, 'welcome');
}

function preferencesLink(mail: ReceivedMail): string {
  return local(/https?:\/\/\S+\/preferences\?token=[A-Za-z0-9_.-]+/.exec(mail.parsed.text ?? '')![0]);
}

const at = (link: string, path: string) => link.replace('/preferences?', `${path}?`);

/** A form post as a browser on `origin` sends it (no Origin header when `origin` is undefined). */
function post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return postForm(url, fields, headers);
}

async function contactExists(email: string): Promise<boolean> {
  const { db, tables } = t.service.database;
  return (await db.select().from(tables.contacts).where(eq(tables.contacts.emailKey, email))).length === 1;
}

function linkMail(email: string, kind: 'erase_link' | 'export_link', nth = 0): Promise<ReceivedMail> {
  return waitFor(() => t.smtp.to(email).filter((m) => m.header('feedback-id')?.includes(`:${kind}:`))[nth], 5000, kind);
}

const mailedLink = (mail: ReceivedMail, path: string) =>
  local(new RegExp(`https?://\\S+${path.replaceAll('/', '\\/')}\\?token=[A-Za-z0-9_.-]+`).exec(mail.parsed.text ?? '')![0]);

/** A later mail to a fresh address: once it arrives, the worker has decided on every row before it. */
async function canary(): Promise<void> {
  const email = `canary.${Math.random().toString(36).slice(2)}@example.com`;
  expect((await postJson(`${t.url}/subscribe`, { email, list: 'links' })).status).toBe(202);
  await waitFor(() => t.smtp.to(email)[0], 5000, 'canary');
  const { db, tables } = t.service.database;
  await waitFor(
    async () => (await db.select().from(tables.outbox).where(eq(tables.outbox.status, 'queued'))).length === 0,
    5000,
    'idle outbox',
  );
}

describe('cross-site posts on the person’s forms', () => {
  it('refuses a foreign Origin, Origin: null, a foreign Referer without Origin and Sec-Fetch-Site: cross-site, with 403 cross_site', async () => {
    const email = 'xsite@example.com';
    const link = preferencesLink(await subscriber(email));
    const unsubscribeReason = local(linkIn(t.smtp.to(email)[1]!, 'unsubscribe')).replace('/unsubscribe?', '/unsubscribe/reason?');
    const forms: [string, Record<string, string>][] = [
      [at(link, '/preferences/erase'), { confirm: 'yes' }],
      [at(link, '/preferences/export'), {}],
      [link, { all: '1' }],
      [at(link, '/preferences/reason'), { reason: 'never_signed_up' }],
      [unsubscribeReason, { reason: 'never_signed_up' }],
    ];
    const attacks: Record<string, string>[] = [
      { origin: EVIL },
      { origin: 'null' },
      { referer: `${EVIL}/page` },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const [url, fields] of forms) {
      for (const headers of attacks) {
        const res = await post(url, fields, { ...headers, accept: 'application/json' });
        expect(res.status, `${new URL(url).pathname} ${JSON.stringify(headers)}`).toBe(403);
        expect(await res.json()).toEqual({ error: { code: 'cross_site', message: expect.any(String) } });
      }
    }
    // The page form in the person's language says why.
    const page = await post(at(link, '/preferences/erase'), { confirm: 'yes' }, { origin: EVIL, 'accept-language': 'fr' });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('autre site');

    await canary();
    expect(await contactExists(email)).toBe(true);
    expect(t.smtp.to(email).filter((m) => /_link:/.test(m.header('feedback-id') ?? ''))).toEqual([]);
    const report = (await (await fetch(`${t.url}/admin/api/reasons?list=links`, { headers: ADMIN_AUTH })).json()) as { counts: object };
    expect(report.counts).toEqual({ too_many: 0, not_relevant: 0, never_signed_up: 0, other: 0 });

    // Our own pages post with their own origin, and so does a client that sends neither header.
    expect((await post(link, {}, { origin: t.url, referer: link })).status).toBe(200);
    expect((await post(link, {})).status).toBe(200);
  });

  it('serves the person’s forms under a same-origin referrer policy, so their own posts carry their origin', async () => {
    const link = preferencesLink(await subscriber('xsite.policy@example.com'));
    expect(await (await fetch(link)).text()).toContain('<meta name="referrer" content="same-origin">');
  });
});

describe('erasure only from a link mailed to the address', () => {
  it('asks, mails a one-time link, erases only from it, and the link works once', async () => {
    const email = 'erase.link@example.com';
    const link = preferencesLink(await subscriber(email));
    const asked = await post(at(link, '/preferences/erase'), { confirm: 'yes' });
    expect(asked.status).toBe(200);
    const page = await asked.text();
    expect(page).toContain('e•••@example.com');
    expect(page).toContain('30 minutes');
    // Whoever holds the preference link got no further: nothing is erased yet.
    expect(await contactExists(email)).toBe(true);

    const mail = await linkMail(email, 'erase_link');
    expect(mail.parsed.subject).toContain('Link news');
    const erase = mailedLink(mail, '/preferences/erase/confirm');
    // A scanner's GET changes nothing.
    const shown = await fetch(erase);
    expect(shown.status).toBe(200);
    expect(await shown.text()).toContain('name="confirm" value="yes"');
    expect(await contactExists(email)).toBe(true);
    // A cross-site post of the mailed link is refused too.
    expect((await post(erase, { confirm: 'yes' }, { origin: EVIL })).status).toBe(403);
    expect(await contactExists(email)).toBe(true);

    expect((await post(erase, { confirm: 'yes' })).status).toBe(200);
    expect(await contactExists(email)).toBe(false);
    const again = await post(erase, { confirm: 'yes' }, { accept: 'application/json' });
    expect(again.status).toBe(410);
    expect(await again.json()).toEqual({ error: { code: 'data_link_used', message: expect.any(String) } });
  });

  it('sends at most one link per action in 30 minutes, whoever presses the button', async () => {
    const email = 'erase.flood@example.com';
    const link = preferencesLink(await subscriber(email));
    for (let i = 0; i < 5; i += 1) expect((await post(at(link, '/preferences/erase'), { confirm: 'yes' })).status).toBe(200);
    await linkMail(email, 'erase_link');
    await canary();
    expect(t.smtp.to(email).filter((m) => m.header('feedback-id')?.includes(':erase_link:'))).toHaveLength(1);
  });

  it('refuses an expired link with 410 data_link_expired, and a link of the other action as invalid', async () => {
    const email = 'erase.expired@example.com';
    await subscriber(email);
    const { db, tables } = t.service.database;
    const [subscription] = await db
      .select()
      .from(tables.subscriptions)
      .innerJoin(tables.contacts, eq(tables.contacts.id, tables.subscriptions.contactId))
      .where(eq(tables.contacts.emailKey, email));
    const expired = createToken([TEST_SECRET], {
      purpose: 'erase',
      subscriptionId: subscription!.subscriptions.id,
      expiresAt: Date.now() - 1,
    });
    const res = await fetch(`${t.url}/preferences/erase/confirm?token=${expired}`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(410);
    expect(await res.json()).toEqual({ error: { code: 'data_link_expired', message: expect.any(String) } });
    const exportToken = createToken([TEST_SECRET], {
      purpose: 'export',
      subscriptionId: subscription!.subscriptions.id,
      expiresAt: Date.now() + 60_000,
    });
    expect((await post(`${t.url}/preferences/erase/confirm?token=${exportToken}`, { confirm: 'yes' })).status).toBe(400);
    expect(await contactExists(email)).toBe(true);
  });

  it('still reaches a person who opted out of every list, and never an address that complained', async () => {
    const left = 'erase.left@example.com';
    const link = preferencesLink(await subscriber(left));
    expect((await post(link, { all: '1' })).status).toBe(200);
    expect((await post(at(link, '/preferences/erase'), { confirm: 'yes' })).status).toBe(200);
    await linkMail(left, 'erase_link');

    const complained = 'erase.complained@example.com';
    const blockedLink = preferencesLink(await subscriber(complained));
    const added = await postJson(`${t.url}/admin/api/suppressions`, { email: complained, reason: 'complained' }, ADMIN_AUTH);
    expect(added.status).toBe(201);
    const refused = await post(at(blockedLink, '/preferences/erase'), { confirm: 'yes' });
    expect(refused.status).toBe(200);
    expect(await refused.text()).toContain('cannot send the link');
    await canary();
    expect(t.smtp.to(complained).filter((m) => m.header('feedback-id')?.includes('_link:'))).toEqual([]);
  });
});

describe('the data download only from a link mailed to the address', () => {
  it('mails a one-time link; the download is complete (IPs in full) and works once', async () => {
    const email = 'export.link@example.com';
    const link = preferencesLink(await subscriber(email));
    const asked = await post(at(link, '/preferences/export'), {});
    expect(asked.status).toBe(200);
    expect(asked.headers.get('content-type')).toMatch(/^text\/html/);
    const download = mailedLink(await linkMail(email, 'export_link'), '/preferences/export/download');
    const shown = await fetch(download);
    expect(shown.status).toBe(200);
    expect(await shown.text()).toContain('<form method="post"');

    const res = await post(download, {});
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('my-data.json');
    const data = (await res.json()) as { email: string; consent: { ip: string | null }[] };
    expect(data.email).toBe(email);
    // The person's own IPs, in full (the page masks them; the file is theirs).
    expect(data.consent.some((e) => e.ip !== null && /^(::ffff:)?127\.0\.0\.1$/.test(e.ip))).toBe(true);

    const again = await post(download, {}, { accept: 'application/json' });
    expect(again.status).toBe(410);
    expect(await again.json()).toEqual({ error: { code: 'data_link_used', message: expect.any(String) } });
  });
});

describe('one answer per opt-out on the reasons form', () => {
  it('counts the latest answer once, however often the form is posted', async () => {
    const email = 'reason.once@example.com';
    const welcome = await subscriber(email);
    const unsubscribe = local(linkIn(welcome, 'unsubscribe'));
    expect((await post(unsubscribe, { scope: 'list' })).status).toBe(200);
    const reasonUrl = unsubscribe.replace('/unsubscribe?', '/unsubscribe/reason?');
    for (let i = 0; i < 40; i += 1) expect((await post(reasonUrl, { reason: 'never_signed_up' })).status).toBe(200);
    expect((await post(reasonUrl, { reason: 'too_many', comment: 'Weekly is plenty.' })).status).toBe(200);
    const report = (await (await fetch(`${t.url}/admin/api/reasons?list=links`, { headers: ADMIN_AUTH })).json()) as {
      counts: Record<string, number>;
      latest: { comment: string }[];
    };
    expect(report.counts).toEqual({ too_many: 1, not_relevant: 0, never_signed_up: 0, other: 0 });
    expect(report.latest.map((l) => l.comment)).toEqual(['Weekly is plenty.']);

    // Erased, the answer keeps counting once.
    expect(
      (await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { method: 'DELETE', headers: ADMIN_AUTH })).status,
    ).toBe(204);
    const after = (await (await fetch(`${t.url}/admin/api/reasons?list=links`, { headers: ADMIN_AUTH })).json()) as { counts: object };
    expect(after.counts).toEqual({ too_many: 1, not_relevant: 0, never_signed_up: 0, other: 0 });
  });
});
