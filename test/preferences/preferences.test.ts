import { and, eq, isNull } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary } from '../support/canary.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { runAdminCli } from '../support/processes.js';
import { ADMIN_AUTH, consoleCookie, firstSweepDone, startTestService, TEST_SECRET, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  await makeList('prefs-a', 'Alpha news', { public: true });
  await makeList('prefs-b', 'Beta digest', { public: true, description: JSON.stringify({ en: 'Every Friday', fr: 'Chaque vendredi' }) });
  await makeList('prefs-hidden', 'Hidden list', { public: false });
  await makeList('prefs-strict', 'Strict list', { public: true, requireConsent: true });
});
afterAll(async () => {
  await t?.stop();
});

/** Lists are made as rows: the lists API is another issue's. */
async function makeList(
  slug: string,
  name: string,
  extra: { public?: boolean; description?: string; requireConsent?: boolean } = {},
): Promise<void> {
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug, name, createdAt: Date.now(), ...extra });
  });
}

const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

function preferencesLink(mail: ReceivedMail): string {
  const match = /https?:\/\/\S+\/preferences\?token=[A-Za-z0-9_.-]+/.exec(mail.parsed.text ?? '');
  if (!match) throw new Error('no preferences link');
  return local(match[0]);
}

/** Posts a form whose fields may repeat (`lists`). */
function postFields(url: string, fields: [string, string][]): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

/** Signs up, confirms, and returns the welcome mail. */
async function subscriber(email: string, list: string, extra: Record<string, string> = {}): Promise<ReceivedMail> {
  const before = t.smtp.to(email).length;
  expect((await postJson(`${t.url}/subscribe`, { email, list, ...extra })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[before], 5000, 'confirmation');
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  return waitFor(() => t.smtp.to(email)[before + 1], 5000, 'welcome');
}

async function contactOf(emailKey: string) {
  const {
    db,
    tables: { contacts },
  } = t.service.database;
  return (await db.select().from(contacts).where(eq(contacts.emailKey, emailKey)))[0];
}
async function statesOf(emailKey: string): Promise<Record<string, string>> {
  const {
    db,
    tables: { subscriptions, lists },
  } = t.service.database;
  const contact = await contactOf(emailKey);
  const rows = await db
    .select({ slug: lists.slug, status: subscriptions.status })
    .from(subscriptions)
    .innerJoin(lists, eq(lists.id, subscriptions.listId))
    .where(eq(subscriptions.contactId, contact!.id));
  return Object.fromEntries(rows.map((r) => [r.slug, r.status]));
}
async function record(email: string) {
  const res = await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { headers: ADMIN_AUTH });
  return (await res.json()) as {
    name: string | null;
    consent: {
      action: string;
      list: string | null;
      ip: string | null;
      userAgent: string | null;
      consentVersion: string | null;
      consentText: unknown;
      detail: string | null;
    }[];
    subscriptions: { list: string; status: string }[];
  };
}
async function putConsent(slug: string, text: unknown): Promise<Response> {
  return fetch(`${t.url}/admin/api/lists/${slug}/consent`, {
    method: 'PUT',
    headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
}

describe('consent statements', () => {
  it('versions the words: the same words are the same version, an old version keeps its words in the proof, an unknown one is refused', async () => {
    const first = await putConsent('prefs-a', { en: 'I agree to receive Alpha news.', fr: 'J’accepte de recevoir Alpha news.' });
    expect(first.status).toBe(200);
    const { version: v1 } = (await first.json()) as { version: string };
    expect(v1).toMatch(/^[0-9a-f]{12}$/);
    const again = (await (
      await putConsent('prefs-a', { fr: 'J’accepte de recevoir Alpha news.', en: 'I agree to receive Alpha news.' })
    ).json()) as { version: string };
    expect(again.version).toBe(v1);
    const {
      db,
      tables: { consentTexts },
    } = t.service.database;
    expect(await db.select().from(consentTexts).where(eq(consentTexts.version, v1))).toHaveLength(1);

    const form = await fetch(`${t.url}/lists/prefs-a/form?locale=fr`);
    expect(form.status).toBe(200);
    const snippet = await form.text();
    expect(snippet).toContain('J’accepte de recevoir Alpha news.');
    expect(snippet).toContain(`name="consent" value="${v1}"`);
    expect(snippet).toMatch(/type="checkbox"[^>]*required/);
    expect(snippet).not.toMatch(/checked/);
    expect(snippet).toContain('name="website"');

    const { version: v2 } = (await (await putConsent('prefs-a', { en: 'I agree to receive Alpha news, weekly.' })).json()) as {
      version: string;
    };
    expect(v2).not.toBe(v1);
    // A form loaded before the edit still carries v1: its proof is v1's words.
    await subscriber('old.words@example.com', 'prefs-a', { consent: v1 });
    const trail = (await record('old.words@example.com')).consent;
    const requested = trail.find((e) => e.action === 'subscribe_requested')!;
    expect(requested.consentVersion).toBe(v1);
    expect(requested.consentText).toEqual({ en: 'I agree to receive Alpha news.', fr: 'J’accepte de recevoir Alpha news.' });
    // The confirmation is given on the words current then.
    expect(trail.find((e) => e.action === 'confirmed')!.consentVersion).toBe(v2);

    const unknown = await postJson(`${t.url}/subscribe`, { email: 'unknown.hash@example.com', list: 'prefs-a', consent: 'ffffffffffff' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_consent_version');
    // A version of another list is unknown here too.
    const { version: strict } = (await (await putConsent('prefs-strict', 'I agree.')).json()) as { version: string };
    expect(
      (
        (await (await postJson(`${t.url}/subscribe`, { email: 'unknown.hash@example.com', list: 'prefs-a', consent: strict })).json()) as {
          error: { code: string };
        }
      ).error.code,
    ).toBe('unknown_consent_version');
  });

  it('enforces requireConsent', async () => {
    const res = await postJson(`${t.url}/subscribe`, { email: 'no.consent@example.com', list: 'prefs-strict' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('consent_required');
    expect(await contactOf('no.consent@example.com')).toBeUndefined();
    const { version } = (await (await fetch(`${t.url}/admin/api/lists/prefs-strict/consent`, { headers: ADMIN_AUTH })).json()) as {
      version: string;
    };
    expect((await postJson(`${t.url}/subscribe`, { email: 'no.consent@example.com', list: 'prefs-strict', consent: version })).status).toBe(
      202,
    );
  });

  it('offers the statement again on a lapsed link of a requireConsent list, so signing up again works', async () => {
    const email = 'lapsed.strict@example.com';
    const { version } = (await (await fetch(`${t.url}/admin/api/lists/prefs-strict/consent`, { headers: ADMIN_AUTH })).json()) as {
      version: string;
    };
    expect((await postJson(`${t.url}/subscribe`, { email, list: 'prefs-strict', consent: version })).status).toBe(202);
    const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'the confirmation');
    const token = tokenOf(linkIn(confirmation, 'confirm'));
    // As time would: the request's week is over (after the sweep's first round, which would delete it).
    await firstSweepDone(t);
    const contact = (await contactOf(email))!;
    await t.service.database.transaction(async ({ db, tables: { subscriptions } }) => {
      await db
        .update(subscriptions)
        .set({ confirmExpiresAt: Date.now() - 1000 })
        .where(eq(subscriptions.contactId, contact.id));
    });
    const page = await fetch(`${t.url}/confirm?token=${token}`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(410);
    const html = await page.text();
    // The same fields as the list's form: the version, and a box to tick that is not ticked.
    expect(html).toContain(`name="consent" value="${version}"`);
    expect(html).toMatch(/<input type="checkbox"[^>]*name="agree"[^>]*required/);
    expect(html).not.toMatch(/<input type="checkbox"[^>]*checked/);
    expect(html).toContain('I agree.');
    // What the page's form posts signs up again (the box ticked).
    const again = await postForm(`${t.url}/subscribe`, { email, list: 'prefs-strict', locale: 'en', consent: version, agree: 'yes' });
    expect(again.status).toBe(303);
  });

  it('refuses a bad statement with 400 and an unknown list with 404', async () => {
    expect((await putConsent('prefs-a', { de: 'Ja' })).status).toBe(400);
    expect((await putConsent('prefs-a', '')).status).toBe(400);
    expect((await putConsent('no-such-list', 'x')).status).toBe(404);
  });
});

describe('preference centre', () => {
  it('links from the welcome mail; GET changes nothing; shows public lists and the person’s own, never pre-ticked', async () => {
    const welcome = await subscriber('pc.get@example.com', 'prefs-a');
    expect(welcome.parsed.html).toContain('Manage your subscriptions');
    const link = preferencesLink(welcome);
    const before = await record('pc.get@example.com');
    const res = await fetch(link);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/name="lists" value="prefs-a" checked/);
    expect(html).toMatch(/name="lists" value="prefs-b">/);
    expect(html).toContain('Every Friday');
    expect(html).not.toContain('prefs-hidden');
    expect(await record('pc.get@example.com')).toEqual(before);
  });

  it('subscribes to a second list and unsubscribes from the first, each in the consent trail with the statement agreed to', async () => {
    const { version } = (await (await putConsent('prefs-b', { en: 'Beta words', fr: 'Mots bêta' })).json()) as { version: string };
    const link = preferencesLink(await subscriber('pc.change@example.com', 'prefs-a'));
    // The statement's own box, ticked beside the list's (consent-join.test.ts has the rest).
    const res = await postFields(link, [
      ['lists', 'prefs-b'],
      ['consent', version],
    ]);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Beta digest');
    expect(html).toContain('name="reason"');
    expect(await statesOf('pc.change@example.com')).toEqual({ 'prefs-a': 'unsubscribed', 'prefs-b': 'confirmed' });
    const trail = (await record('pc.change@example.com')).consent;
    expect(trail.filter((e) => e.action === 'unsubscribed' && e.list === 'prefs-a')).toHaveLength(1);
    const joined = trail.find((e) => e.action === 'confirmed' && e.list === 'prefs-b')!;
    expect(joined.consentVersion).toBe(version);
    expect(joined.consentText).toEqual({ en: 'Beta words', fr: 'Mots bêta' });
    // The reasons form of that page: about the list just left, and only that one.
    expect(
      (
        await postFields(link.replace('/preferences?', '/preferences/reason?'), [
          ['lists', 'prefs-a'],
          ['lists', 'prefs-b'],
          ['reason', 'not_relevant'],
        ])
      ).status,
    ).toBe(200);
    const reasons = (await record('pc.change@example.com')).consent.filter((e) => e.action === 'unsubscribe_reason');
    expect(reasons.map((e) => [e.list, JSON.parse(e.detail!)])).toEqual([
      ['prefs-a', { reason: 'not_relevant', optOutAt: expect.any(Number) }],
    ]);
    // The opt-out holds for prefs-a: a new signup there sends nothing.
    const sent = t.smtp.to('pc.change@example.com').length;
    expect((await postJson(`${t.url}/subscribe`, { email: 'pc.change@example.com', list: 'prefs-a' })).status).toBe(202);
    await canary(t);
    expect(t.smtp.to('pc.change@example.com')).toHaveLength(sent);
    // And ticking it again here reopens it.
    await postFields(link, [
      ['lists', 'prefs-a'],
      ['lists', 'prefs-b'],
    ]);
    expect(await statesOf('pc.change@example.com')).toEqual({ 'prefs-a': 'confirmed', 'prefs-b': 'confirmed' });
  });

  it('unsubscribes from everything', async () => {
    const link = preferencesLink(await subscriber('pc.all@example.com', 'prefs-a'));
    await postFields(link, [['lists', 'prefs-b']]);
    expect(
      (
        await postFields(link, [
          ['all', '1'],
          ['lists', 'prefs-b'],
        ])
      ).status,
    ).toBe(200);
    expect(await statesOf('pc.all@example.com')).toEqual({ 'prefs-a': 'unsubscribed', 'prefs-b': 'unsubscribed' });
    const {
      db,
      tables: { suppressions },
    } = t.service.database;
    expect(
      await db
        .select()
        .from(suppressions)
        .where(and(eq(suppressions.email, 'pc.all@example.com'), isNull(suppressions.listId))),
    ).toHaveLength(1);
  });

  it('a blocked address sees why and cannot lift its block', async () => {
    const link = preferencesLink(await subscriber('pc.blocked@example.com', 'prefs-a'));
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'pc.blocked@example.com', reason: 'complained' }, ADMIN_AUTH)).status,
    ).toBe(201);
    const html = await (await fetch(link)).text();
    expect(html).toContain('reported as spam');
    expect(html).toMatch(/value="prefs-b" disabled/);
    expect(
      (
        await postFields(link, [
          ['lists', 'prefs-a'],
          ['lists', 'prefs-b'],
        ])
      ).status,
    ).toBe(200);
    expect((await statesOf('pc.blocked@example.com'))['prefs-b']).toBeUndefined();
    const {
      db,
      tables: { suppressions },
    } = t.service.database;
    expect((await db.select().from(suppressions).where(eq(suppressions.email, 'pc.blocked@example.com'))).map((s) => s.reason)).toEqual([
      'complained',
    ]);
  });

  it('erasure from the preference centre leaves only the hash: a new signup sends nothing, an old one-click link still answers 200', async () => {
    const welcome = await subscriber('pc.erase@example.com', 'prefs-a');
    const link = preferencesLink(welcome);
    const html = await (await fetch(link)).text();
    expect(html).toContain('Download my data');
    // Both happen only from a one-time link mailed to the address (test/preferences/data-links.test.ts).
    expect((await postFields(link.replace('/preferences?', '/preferences/export?'), [])).status).toBe(200);
    const exportMail = await waitFor(() =>
      t.smtp.to('pc.erase@example.com').find((m) => m.header('feedback-id')?.includes(':export_link:')),
    );
    const exportLink = local(/https?:\/\/\S+\/preferences\/export\/download\?token=[A-Za-z0-9_.-]+/.exec(exportMail.parsed.text ?? '')![0]);
    const exported = await postFields(exportLink, []);
    expect(exported.status).toBe(200);
    expect(((await exported.json()) as { email: string }).email).toBe('pc.erase@example.com');
    const ask = await postFields(link.replace('/preferences?', '/preferences/erase?'), []);
    expect(await ask.text()).toContain('name="confirm" value="yes"');
    expect(await contactOf('pc.erase@example.com')).toBeDefined();
    expect((await postFields(link.replace('/preferences?', '/preferences/erase?'), [['confirm', 'yes']])).status).toBe(200);
    expect(await contactOf('pc.erase@example.com')).toBeDefined();
    const eraseMail = await waitFor(() => t.smtp.to('pc.erase@example.com').find((m) => m.header('feedback-id')?.includes(':erase_link:')));
    const eraseLink = local(/https?:\/\/\S+\/preferences\/erase\/confirm\?token=[A-Za-z0-9_.-]+/.exec(eraseMail.parsed.text ?? '')![0]);
    expect((await postFields(eraseLink, [['confirm', 'yes']])).status).toBe(200);
    expect(await contactOf('pc.erase@example.com')).toBeUndefined();
    const {
      db,
      tables: { suppressions, consentEvents },
    } = t.service.database;
    expect(await db.select().from(suppressions).where(eq(suppressions.email, 'pc.erase@example.com'))).toHaveLength(0);
    expect(
      (await db.select().from(consentEvents).where(eq(consentEvents.detail, 'a contact was erased by preference centre'))).length,
    ).toBeGreaterThan(0);
    const sent = t.smtp.to('pc.erase@example.com').length;
    expect((await postJson(`${t.url}/subscribe`, { email: 'pc.erase@example.com', list: 'prefs-b' })).status).toBe(202);
    await canary(t);
    expect(t.smtp.to('pc.erase@example.com')).toHaveLength(sent);
    const click = await oneClick(local(linkIn(welcome, 'unsubscribe')));
    expect(click.status).toBe(200);
  });
});

describe('reasons for leaving', () => {
  it('is optional; one-click stays a plain 200 with no form; counts per reason, list and source, and only counts survive erasure', async () => {
    const welcome = await subscriber('why.one@example.com', 'prefs-b');
    const click = await oneClick(local(linkIn(welcome, 'unsubscribe')));
    expect(click.status).toBe(200);
    expect(await click.text()).not.toContain('name="reason"');

    const welcome2 = await subscriber('why.two@example.com', 'prefs-b');
    const page = await postForm(local(linkIn(welcome2, 'unsubscribe')), { scope: 'list' });
    const html = await page.text();
    expect(html).toContain('name="reason"');
    expect(await statesOf('why.two@example.com')).toEqual({ 'prefs-b': 'unsubscribed' });
    const reasonUrl = local(linkIn(welcome2, 'unsubscribe')).replace('/unsubscribe?', '/unsubscribe/reason?');
    expect((await postForm(reasonUrl, { reason: 'never_signed_up', comment: 'Not me!\nReally.' })).status).toBe(200);
    expect((await postForm(reasonUrl, { reason: 'bogus' })).status).toBe(400);
    expect((await postForm(reasonUrl, { comment: 'x'.repeat(501) })).status).toBe(400);

    const report = async () =>
      (await (await fetch(`${t.url}/admin/api/reasons?list=prefs-b&days=7`, { headers: ADMIN_AUTH })).json()) as {
        counts: Record<string, number>;
        days: { day: string; never_signed_up: number }[];
        latest: { comment: string }[];
        neverSignedUp: { byList: Record<string, number> };
      };
    const before = await report();
    expect(before.counts).toEqual({ too_many: 0, not_relevant: 0, never_signed_up: 1, other: 0 });
    expect(before.days).toHaveLength(7);
    expect(before.days.at(-1)!.never_signed_up).toBe(1);
    expect(before.latest.map((l) => l.comment)).toEqual(['Not me!\nReally.']);
    expect(before.neverSignedUp.byList).toEqual({ 'prefs-b': 1 });

    expect((await fetch(`${t.url}/admin/api/contacts/why.two%40example.com`, { method: 'DELETE', headers: ADMIN_AUTH })).status).toBe(204);
    const after = await report();
    expect(after.counts).toEqual(before.counts);
    expect(after.latest).toEqual([]);
    const {
      db,
      tables: { consentEvents },
    } = t.service.database;
    const { lists } = t.service.database.tables;
    const [listB] = await db.select().from(lists).where(eq(lists.slug, 'prefs-b'));
    const kept = await db
      .select()
      .from(consentEvents)
      .where(and(eq(consentEvents.action, 'unsubscribe_reason'), eq(consentEvents.listId, listB!.id)));
    expect(kept.map((e) => [e.contactId, JSON.parse(e.detail!), e.ip])).toEqual([
      [null, { reason: 'never_signed_up', optOutAt: expect.any(Number) }, null],
    ]);
  });
});

describe('minimisation after the opt-out', () => {
  it('with OPTOUT_RETENTION=0 a contact who left every list is minimised at the next sweep', async () => {
    const m = await startTestService({ env: { OPTOUT_RETENTION: '0', SWEEP_INTERVAL: '200ms' } });
    try {
      const email = 'minimise.me@example.com';
      expect((await postJson(`${m.url}/subscribe`, { email, name: 'Mina Me' }, { 'user-agent': 'Browser/1.0' })).status).toBe(202);
      const confirmation = await waitFor(() => m.smtp.to(email)[0], 5000, 'confirmation');
      await postForm(`${m.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) }, { 'user-agent': 'Browser/1.0' });
      const welcome = await waitFor(() => m.smtp.to(email)[1], 5000, 'welcome');
      const {
        db,
        tables: { contacts, consentEvents, suppressions },
      } = m.service.database;
      expect((await db.select().from(contacts).where(eq(contacts.emailKey, email)))[0]!.name).toBe('Mina Me');
      expect(
        (await oneClick(`${m.url}${new URL(linkIn(welcome, 'unsubscribe')).pathname}${new URL(linkIn(welcome, 'unsubscribe')).search}`))
          .status,
      ).toBe(200);
      const contact = await waitFor(
        async () => (await db.select().from(contacts).where(eq(contacts.emailKey, email))).find((c) => c.minimizedAt !== null),
        10_000,
        'minimisation',
      );
      expect(contact.name).toBeNull();
      const trail = await db.select().from(consentEvents).where(eq(consentEvents.contactId, contact.id));
      expect(trail.map((e) => e.action)).toEqual(['subscribe_requested', 'confirmed', 'unsubscribed']);
      expect(trail.every((e) => e.ip === null && e.userAgent === null && e.source === null)).toBe(true);
      expect((await db.select().from(suppressions).where(eq(suppressions.email, email))).map((s) => s.reason)).toEqual(['unsubscribed']);
      expect((await postJson(`${m.url}/subscribe`, { email })).status).toBe(202);
      await canary(m);
      expect(m.smtp.to(email)).toHaveLength(2);

      // A complaint ends the subscription as surely as an opt-out: the contact is minimised too.
      const complainer = 'complainer@example.com';
      expect((await postJson(`${m.url}/subscribe`, { email: complainer, name: 'Cora' })).status).toBe(202);
      const mail = await waitFor(() => m.smtp.to(complainer)[0], 5000, 'confirmation');
      await postForm(`${m.url}/confirm`, { token: tokenOf(linkIn(mail, 'confirm')) });
      await waitFor(() => m.smtp.to(complainer)[1], 5000, 'welcome');
      expect((await db.select().from(contacts).where(eq(contacts.emailKey, complainer)))[0]!.minimizedAt).toBeNull();
      expect((await postJson(`${m.url}/admin/api/suppressions`, { email: complainer, reason: 'complained' }, ADMIN_AUTH)).status).toBe(201);
      const minimised = await waitFor(
        async () => (await db.select().from(contacts).where(eq(contacts.emailKey, complainer))).find((c) => c.minimizedAt !== null),
        10_000,
        'minimisation after a complaint',
      );
      expect(minimised.name).toBeNull();
    } finally {
      await m.stop();
    }
  });
});

describe('consent statements in the console and the CLI', () => {
  it('the CLI writes a version the API reads, and the same words again are the same version', async () => {
    const written = await runAdminCli(['lists', 'consent', 'prefs-hidden', '--en', 'I agree (CLI).', '--fr', 'J’accepte (CLI).'], {
      DATABASE_PATH: t.config.databasePath,
      SECRET: TEST_SECRET,
    });
    expect(written.code).toBe(0);
    const { version, created } = JSON.parse(written.stdout) as { version: string; created: boolean };
    expect(created).toBe(true);
    const api = (await (await fetch(`${t.url}/admin/api/lists/prefs-hidden/consent`, { headers: ADMIN_AUTH })).json()) as {
      version: string;
      versions: unknown[];
    };
    expect(api.version).toBe(version);
    expect(
      ((await (await putConsent('prefs-hidden', { fr: 'J’accepte (CLI).', en: 'I agree (CLI).' })).json()) as { version: string }).version,
    ).toBe(version);
    expect(
      (await runAdminCli(['lists', 'consent', 'prefs-hidden'], { DATABASE_PATH: t.config.databasePath, SECRET: TEST_SECRET })).code,
    ).toBe(2);
  });

  it('the console edits a statement and shows the reasons chart', async () => {
    const cookie = await consoleCookie(t.url);
    const page = await (await fetch(`${t.url}/admin/lists/prefs-b/consent`, { headers: { cookie } })).text();
    expect(page).toContain('Beta words');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    const saved = await fetch(`${t.url}/admin/lists/prefs-b/consent`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, en: 'Console words', fr: 'Mots de la console' }).toString(),
      redirect: 'manual',
    });
    expect(saved.status).toBe(303);
    const api = (await (await fetch(`${t.url}/admin/api/lists/prefs-b/consent`, { headers: ADMIN_AUTH })).json()) as {
      versions: { text: unknown }[];
    };
    expect(api.versions[0]!.text).toEqual({ en: 'Console words', fr: 'Mots de la console' });
    const reasons = await (await fetch(`${t.url}/admin/reasons?days=7`, { headers: { cookie } })).text();
    expect(reasons).toContain('<svg');
    expect(reasons).toContain('Never signed up');
  });
});
