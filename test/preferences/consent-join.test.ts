import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';

/*
 * Consent in the preference centre (issue 25, item 4): joining a list there shows that list's
 * consent statement beside a box that is not ticked, a list with requireConsent is not joined
 * without it (as the signup form refuses), and the consent event records the version that was
 * shown, not whatever is current. "It was me" records the version it confirms.
 */

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    const now = Date.now();
    await db.insert(lists).values([
      { slug: 'open', name: 'Open letter', public: true, createdAt: now },
      { slug: 'strict', name: 'Strict list', public: true, requireConsent: true, createdAt: now },
      { slug: 'worded', name: 'Worded list', public: true, createdAt: now },
    ]);
  });
});
afterAll(async () => {
  await t?.stop();
});

const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

function preferencesLink(mail: ReceivedMail): string {
  const match = /https?:\/\/\S+\/preferences\?token=[A-Za-z0-9_.-]+/.exec(mail.parsed.text ?? '');
  if (!match) throw new Error('no preferences link');
  return local(match[0]);
}

/** Posts the preference form: `lists` ticked, and the consent boxes ticked (their versions). */
const post = (link: string, lists: string[], consent: string[] = [], headers: Record<string, string> = {}) =>
  fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers },
    body: new URLSearchParams([...lists.map((slug) => ['lists', slug]), ...consent.map((version) => ['consent', version])]).toString(),
  });

async function putConsent(slug: string, text: unknown): Promise<string> {
  const res = await fetch(`${t.url}/admin/api/lists/${slug}/consent`, {
    method: 'PUT',
    headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { version: string }).version;
}

async function subscriber(email: string, list: string, extra: Record<string, string> = {}): Promise<ReceivedMail> {
  const before = t.smtp.to(email).length;
  expect((await postJson(`${t.url}/subscribe`, { email, list, ...extra })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[before], 5000, 'confirmation');
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  return waitFor(() => t.smtp.to(email)[before + 1], 5000, 'welcome');
}

interface ContactRecord {
  subscriptions: { list: string; status: string }[];
  consent: { action: string; list: string | null; detail: string | null; consentVersion: string | null; consentText: unknown }[];
}
const record = async (email: string) =>
  (await (await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { headers: ADMIN_AUTH })).json()) as ContactRecord;
const statusOf = async (email: string, list: string) => (await record(email)).subscriptions.find((s) => s.list === list)?.status;
const joins = async (email: string, list: string) =>
  (await record(email)).consent.filter((e) => e.action === 'confirmed' && e.list === list && e.detail === 'preference centre');

describe('joining from the preference centre', () => {
  it('shows a requireConsent list’s statement with an unticked box, refuses the join without it, and records the version shown', async () => {
    const v1 = await putConsent('strict', { en: 'I agree to receive the Strict list.', fr: 'J’accepte de recevoir la liste stricte.' });
    const email = 'joins.strict@example.com';
    const prefs = preferencesLink(await subscriber(email, 'open'));

    const page = await (await fetch(prefs)).text();
    expect(page).toContain('I agree to receive the Strict list.');
    const box = new RegExp(`<input type="checkbox"[^>]*name="consent" value="${v1}"[^>]*>`).exec(page)?.[0];
    expect(box).toBeDefined();
    expect(box).not.toContain('checked');
    expect(box).not.toContain('disabled');
    // In French too.
    expect(await (await fetch(`${prefs}&locale=fr`)).text()).toContain('J’accepte de recevoir la liste stricte.');

    // Ticking the list without the statement's box joins nothing, and says why.
    const unticked = await post(prefs, ['open', 'strict']);
    expect(unticked.status).toBe(200);
    expect(await unticked.text()).toContain('Not joined: Strict list');
    expect(await statusOf(email, 'strict')).toBeUndefined();
    expect(await joins(email, 'strict')).toHaveLength(0);

    // With it: joined, and the event names the version agreed to and its words.
    expect((await post(prefs, ['open', 'strict'], [v1])).status).toBe(200);
    expect(await statusOf(email, 'strict')).toBe('confirmed');
    expect((await joins(email, 'strict')).map((e) => [e.consentVersion, e.consentText])).toEqual([
      [v1, { en: 'I agree to receive the Strict list.', fr: 'J’accepte de recevoir la liste stricte.' }],
    ]);

    // The words change; a page loaded before the change still carries v1: the proof is v1's words.
    const v2 = await putConsent('strict', 'I agree to the new Strict words.');
    expect(v2).not.toBe(v1);
    expect((await post(prefs, ['open'])).status).toBe(200);
    expect(await statusOf(email, 'strict')).toBe('unsubscribed');
    expect((await post(prefs, ['open', 'strict'], [v1])).status).toBe(200);
    expect(await statusOf(email, 'strict')).toBe('confirmed');
    expect((await joins(email, 'strict')).map((e) => e.consentVersion)).toEqual([v1, v1]);
  });

  it('a version no list ever had is refused: 400 unknown_consent_version, in the person’s language, nothing joined', async () => {
    await putConsent('strict', 'I agree to the new Strict words.');
    const email = 'forged.version@example.com';
    const prefs = preferencesLink(await subscriber(email, 'open'));
    const res = await post(prefs, ['open', 'strict'], ['ffffffffffff'], { 'accept-language': 'fr' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Ce formulaire n’est plus à jour');
    expect(await statusOf(email, 'strict')).toBeUndefined();
    // The version of another list on the page (its box ticked) is no consent to this one.
    const openVersion = await putConsent('open', 'Words of the open letter.');
    const other = await post(prefs, ['open', 'strict'], [openVersion]);
    expect(other.status).toBe(200);
    expect(await other.text()).toContain('Not joined: Strict list');
    expect(await statusOf(email, 'strict')).toBeUndefined();
  });

  it('a list that does not require consent: joined without the box, and then no version is claimed', async () => {
    const version = await putConsent('worded', 'Words of the worded list.');
    const email = 'joins.worded@example.com';
    const prefs = preferencesLink(await subscriber(email, 'open'));
    expect(await (await fetch(prefs)).text()).toContain(`name="consent" value="${version}"`);
    expect((await post(prefs, ['open', 'worded'])).status).toBe(200);
    expect(await statusOf(email, 'worded')).toBe('confirmed');
    expect((await joins(email, 'worded')).map((e) => e.consentVersion)).toEqual([null]);
    // Ticked, the box's version is recorded.
    expect((await post(prefs, ['open'])).status).toBe(200);
    expect((await post(prefs, ['open', 'worded'], [version])).status).toBe(200);
    expect((await joins(email, 'worded')).map((e) => e.consentVersion)).toEqual([null, version]);
  });
});

describe('"It was me"', () => {
  it('stores the consent version it confirms', async () => {
    const version = await putConsent('strict', 'I agree to the Strict list, once more.');
    const email = 'it.was.me@example.com';
    expect((await postJson(`${t.url}/subscribe`, { email, list: 'strict', consent: version })).status).toBe(202);
    const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'confirmation');
    // "Not me" from the confirmation mail's own link, then "it was me" from its confirm link.
    expect((await postForm(local(linkIn(confirmation, 'unsubscribe')), {})).status).toBe(200);
    expect(await statusOf(email, 'strict')).toBe('unsubscribed');
    const itWasMe = await postForm(`${t.url}/confirm/it-was-me`, { token: tokenOf(linkIn(confirmation, 'confirm')) });
    expect(itWasMe.status).toBe(200);
    expect(await statusOf(email, 'strict')).toBe('confirmed');
    const confirmed = (await record(email)).consent.filter((e) => e.action === 'confirmed');
    expect(confirmed.map((e) => [e.detail, e.consentVersion])).toEqual([['it was me (after not me)', version]]);
  });
});
