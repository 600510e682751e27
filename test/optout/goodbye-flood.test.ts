import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';

/*
 * Goodbye mails as a weapon (issue 25, item 3): whoever holds a forwarded link must not be able
 * to flood the address. At most one goodbye mail per subscription per 24 hours, and a limit per
 * link on resubscribing and on joining from the preference centre. An unsubscribe itself is never
 * limited: it is always recorded, and only its goodbye mail is held back.
 */

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  for (const [slug, name] of [
    ['farewell', 'Farewell news'],
    ['other', 'Other news'],
  ] as const) {
    const res = await postJson(`${t.url}/admin/api/lists`, { slug, name, public: true, goodbyeEmail: true }, ADMIN_AUTH);
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await t?.stop();
});

/** A link from a mail, pointed at the test service (mail links carry PUBLIC_URL). */
const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

function preferencesLink(mail: ReceivedMail): string {
  const match = /https?:\/\/\S+\/preferences\?token=[A-Za-z0-9_.-]+/.exec(mail.parsed.text ?? '');
  if (!match) throw new Error('no preferences link');
  return local(match[0]);
}

/** Posts the preference form with these lists ticked. */
const tick = (link: string, ...slugs: string[]) =>
  fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams(slugs.map((slug) => ['lists', slug])).toString(),
  });

/** Signs up and confirms through the public routes; returns the welcome mail. */
async function subscriber(email: string, list = 'farewell'): Promise<ReceivedMail> {
  const before = t.smtp.to(email).length;
  expect((await postJson(`${t.url}/subscribe`, { email, list })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[before], 5000, `the confirmation to ${email}`);
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  return waitFor(() => t.smtp.to(email)[before + 1], 5000, `the welcome to ${email}`);
}

interface ContactRecord {
  subscriptions: { list: string; status: string }[];
  consent: { action: string; list: string | null }[];
  messages: { kind: string; status: string }[];
}
const record = async (email: string) =>
  (await (await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { headers: ADMIN_AUTH })).json()) as ContactRecord;
const statusOf = async (email: string, list = 'farewell') => (await record(email)).subscriptions.find((s) => s.list === list)?.status;

/**
 * Waits until every mail written for this address has been dealt with (sent or dropped) and a
 * canary signup, written after all of them, has reached the SMTP server: what was to arrive has.
 */
async function settled(email: string, canary: string): Promise<void> {
  await waitFor(
    async () => (await record(email)).messages.every((m) => m.status !== 'queued'),
    10_000,
    `the mail of ${email} to be dealt with`,
  );
  expect((await postJson(`${t.url}/subscribe`, { email: canary, list: 'other' })).status).toBe(202);
  await waitFor(() => t.smtp.to(canary)[0], 5000, 'the canary');
}

const goodbyesTo = (email: string) => t.smtp.to(email).filter((m) => /unsubscribed|désinscrit/i.test(m.parsed.subject ?? ''));

describe('at most one goodbye mail per subscription per 24 hours', () => {
  it('five unsubscribe/resubscribe loops from one link send one goodbye; every unsubscribe is recorded', async () => {
    const email = 'looped@example.com';
    const welcome = await subscriber(email);
    const unsubscribe = local(linkIn(welcome, 'unsubscribe'));
    const resubscribe = `${t.url}/resubscribe?token=${tokenOf(linkIn(welcome, 'unsubscribe'))}`;
    for (let round = 1; round <= 5; round += 1) {
      expect((await postForm(unsubscribe, { scope: 'list' })).status).toBe(200);
      expect(await statusOf(email)).toBe('unsubscribed');
      if (round < 5) expect((await postJson(resubscribe, {})).status).toBe(200);
    }
    await settled(email, 'canary.loop@example.com');
    expect(goodbyesTo(email)).toHaveLength(1);
    expect(t.smtp.to(email)).toHaveLength(3); // confirmation, welcome, one goodbye
    const trail = (await record(email)).consent;
    expect(trail.filter((e) => e.action === 'unsubscribed')).toHaveLength(5);
    expect(trail.filter((e) => e.action === 'resubscribed')).toHaveLength(4);
  });

  it('the preference centre does not flood either: leave, join, leave sends one goodbye', async () => {
    const email = 'prefs.looped@example.com';
    const prefs = preferencesLink(await subscriber(email));
    expect((await tick(prefs)).status).toBe(200);
    expect(await statusOf(email)).toBe('unsubscribed');
    expect((await tick(prefs, 'farewell')).status).toBe(200);
    expect(await statusOf(email)).toBe('confirmed');
    expect((await tick(prefs)).status).toBe(200);
    expect(await statusOf(email)).toBe('unsubscribed');
    await settled(email, 'canary.prefs@example.com');
    expect(goodbyesTo(email)).toHaveLength(1);
    expect((await record(email)).consent.filter((e) => e.action === 'unsubscribed')).toHaveLength(2);
  });
});

describe('a limit per link', () => {
  it('on resubscribe: the sixth in an hour answers 429 with Retry-After; unsubscribing through the same link still works', async () => {
    const email = 'resubscribes.often@example.com';
    const welcome = await subscriber(email);
    const unsubscribe = local(linkIn(welcome, 'unsubscribe'));
    const resubscribe = `${t.url}/resubscribe?token=${tokenOf(linkIn(welcome, 'unsubscribe'))}`;
    for (let round = 1; round <= 5; round += 1) {
      expect((await postForm(unsubscribe, { scope: 'list' })).status).toBe(200);
      expect((await postJson(resubscribe, {})).status).toBe(200);
    }
    expect((await postForm(unsubscribe, { scope: 'list' })).status).toBe(200);
    const limited = await postJson(resubscribe, {});
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.json()).toEqual({ error: { code: 'link_rate_limited', message: expect.any(String) } });
    expect(await statusOf(email)).toBe('unsubscribed');
    // A page for a browser, in the person's language.
    const page = await postForm(resubscribe, {}, { 'accept-language': 'fr' });
    expect(page.status).toBe(429);
    expect(await page.text()).toContain('Ce lien a servi trop souvent');
    // An unsubscribe is never limited: the one-click and the page still answer and record.
    expect((await postForm(unsubscribe, { 'List-Unsubscribe': 'One-Click' })).status).toBe(200);
    expect((await postForm(unsubscribe, { scope: 'all' })).status).toBe(200);
    expect((await record(email)).consent.filter((e) => e.action === 'unsubscribed').length).toBeGreaterThanOrEqual(6);
    // Another person's link is not held back by this one's.
    const otherWelcome = await subscriber('resubscribes.once@example.com');
    expect((await postForm(local(linkIn(otherWelcome, 'unsubscribe')), { scope: 'list' })).status).toBe(200);
    expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(linkIn(otherWelcome, 'unsubscribe'))}`, {})).status).toBe(200);
  });

  it('on joins from the preference centre: the sixth join in an hour is refused; leaving never is', async () => {
    const email = 'joins.often@example.com';
    const prefs = preferencesLink(await subscriber(email));
    for (let round = 1; round <= 5; round += 1) {
      expect((await tick(prefs, 'farewell', 'other')).status).toBe(200);
      expect(await statusOf(email, 'other')).toBe('confirmed');
      expect((await tick(prefs, 'farewell')).status).toBe(200);
      expect(await statusOf(email, 'other')).toBe('unsubscribed');
    }
    const limited = await tick(prefs, 'farewell', 'other');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.text()).toContain('This link was used too often');
    expect(await statusOf(email, 'other')).toBe('unsubscribed');

    // Leaving one list while asking to join another: the leave is done, the join waits.
    const mixed = await tick(prefs, 'other');
    expect(mixed.status).toBe(200);
    const html = await mixed.text();
    expect(html).toContain('Unsubscribed now: Farewell news');
    expect(html).toContain('Not joined now: Other news');
    expect(await statusOf(email)).toBe('unsubscribed');
    expect(await statusOf(email, 'other')).toBe('unsubscribed');
  });
});
