import { readFileSync } from 'node:fs';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suppressAddress } from '../../src/features/policy/suppressions.js';
import { canary } from '../support/canary.js';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { firstDroppedMail, startTestService, startWorkerBeside, TEST_SECRET, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const subscribe = (body: Record<string, unknown>, headers?: Record<string, string>) => postJson(`${t.url}/subscribe`, body, headers);

describe('signup → confirmation → confirm → welcome', () => {
  it('runs the whole double opt-in path against a real SMTP server', async () => {
    const res = await subscribe({ email: 'Ann.Path@Example.COM', name: 'Ann' }, { referer: 'https://site.test/join' });
    expect(res.status).toBe(202);

    const confirmation = await waitFor(() => t.smtp.to('Ann.Path@example.com')[0], 3000, 'confirmation email');
    expect(confirmation.parsed.subject).toBe('Please confirm your subscription to Newsletter');
    expect(confirmation.parsed.html).toContain('<html lang="en"');
    // The confirmation carries no free text from the form.
    expect(confirmation.raw).not.toContain('Ann,');
    const confirmLink = linkIn(confirmation, 'confirm');
    const unsubscribeLink = linkIn(confirmation, 'unsubscribe');
    expect(confirmLink.startsWith('http://optin.test/confirm?token=')).toBe(true);
    expect(confirmation.parsed.html).toContain(confirmLink);
    expect(confirmation.parsed.html).toContain(unsubscribeLink);
    expect(confirmation.header('list-unsubscribe')).toBe(`<${unsubscribeLink}>`);
    expect(confirmation.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(confirmation.header('list-id')).toBe('Newsletter <default.optin.test>');
    expect(confirmation.header('message-id')).toMatch(/^<[0-9a-f-]{36}@example\.org>$/);

    // GET shows a button and changes nothing: mail scanners fetch links.
    const page = await fetch(`${t.url}/confirm?token=${tokenOf(confirmLink)}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<form method="post" action="/confirm">');
    expect(html).toContain(`value="${tokenOf(confirmLink)}"`);
    const {
      db,
      tables: { consentEvents, contacts, subscriptions },
    } = t.service.database;
    const [contact] = await db.select().from(contacts).where(eq(contacts.emailKey, 'ann.path@example.com'));
    const [before] = await db.select().from(subscriptions).where(eq(subscriptions.contactId, contact!.id));
    expect(before!.status).toBe('pending');

    const confirmed = await postForm(`${t.url}/confirm`, { token: tokenOf(confirmLink) }, { 'user-agent': 'TestBrowser/1.0' });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('is confirmed');
    const [after] = await db.select().from(subscriptions).where(eq(subscriptions.id, before!.id));
    expect(after!.status).toBe('confirmed');

    const welcome = await waitFor(() => t.smtp.to('Ann.Path@example.com')[1], 3000, 'welcome email');
    expect(welcome.parsed.subject).toBe('Welcome to Newsletter');
    expect(welcome.parsed.text).toContain('Welcome, Ann!');
    expect(welcome.header('list-unsubscribe')).toMatch(/^<http:\/\/optin\.test\/unsubscribe\?token=/);
    expect(welcome.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');

    // Consent is recorded with proof: what, when, from where, which list.
    const trail = await db.select().from(consentEvents).where(eq(consentEvents.contactId, contact!.id)).orderBy(consentEvents.id);
    expect(trail.map((e) => e.action)).toEqual(['subscribe_requested', 'confirmed']);
    expect(trail[0]).toMatchObject({ source: 'https://site.test/join', ip: expect.stringMatching(/127\.0\.0\.1/), listId: 1 });
    expect(trail[1]).toMatchObject({ userAgent: 'TestBrowser/1.0' });

    // Confirming again is harmless: same page, no second welcome.
    const again = await postForm(`${t.url}/confirm`, { token: tokenOf(confirmLink) });
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('already confirmed');
    await canary(t);
    expect(t.smtp.to('Ann.Path@example.com')).toHaveLength(2);
  });

  it('sends the confirmation in the language asked for, or the browser’s', async () => {
    await subscribe({ email: 'fr-field@example.com', locale: 'fr' });
    await subscribe({ email: 'fr-header@example.com' }, { 'accept-language': 'de-DE, fr;q=0.8, en;q=0.5' });
    const byField = await waitFor(() => t.smtp.to('fr-field@example.com')[0], 3000);
    const byHeader = await waitFor(() => t.smtp.to('fr-header@example.com')[0], 3000);
    for (const mail of [byField, byHeader]) {
      expect(mail.parsed.subject).toBe('Confirmez votre inscription à Newsletter');
      expect(mail.parsed.html).toContain('<html lang="fr"');
    }
  });

  it('answers a plain HTML form with a 303 to the thank-you page', async () => {
    const res = await postForm(`${t.url}/subscribe`, { email: 'form@example.com' });
    expect(res.status).toBe(303);
    const location = res.headers.get('location')!;
    expect(location).toMatch(/^\/thanks/);
    const thanks = await fetch(new URL(location, t.url));
    expect(thanks.status).toBe(200);
    expect(await thanks.text()).toContain('Check your inbox');
    await waitFor(() => t.smtp.to('form@example.com')[0], 3000);
  });

  it('answers the same for new, pending, confirmed and suppressed addresses', async () => {
    await t.service.database.transaction((tx) =>
      suppressAddress(tx, [TEST_SECRET], {
        emailKey: 'blocked@example.com',
        domain: 'example.com',
        listId: null,
        reason: 'manual',
        source: 'test',
        at: Date.now(),
      }),
    );
    const answers = await Promise.all(
      ['fresh@example.com', 'Ann.Path@example.com', 'BLOCKED@example.com'].map(async (email) => {
        const res = await subscribe({ email });
        return `${res.status} ${await res.text()}`;
      }),
    );
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]).toMatch(/^202 /);
    await waitFor(() => t.smtp.to('fresh@example.com')[0], 3000);
    await canary(t);
    expect(t.smtp.to('blocked@example.com')).toHaveLength(0);
    // A suppressed address leaves no contact behind.
    const {
      db,
      tables: { contacts },
    } = t.service.database;
    expect(await db.select().from(contacts).where(eq(contacts.emailKey, 'blocked@example.com'))).toEqual([]);
  });

  it('drops a queued confirmation when the address is suppressed before the worker sends it', async () => {
    const paused = await startTestService({ roles: ['api'] });
    try {
      const res = await postJson(`${paused.url}/subscribe`, { email: 'late-optout@example.com' });
      expect(res.status).toBe(202);
      await paused.service.database.transaction((tx) =>
        suppressAddress(tx, [TEST_SECRET], {
          emailKey: 'late-optout@example.com',
          domain: 'example.com',
          listId: null,
          reason: 'unsubscribed',
          source: 'test',
          at: Date.now(),
        }),
      );
      const worker = await startWorkerBeside(paused);
      try {
        const {
          db,
          tables: { outbox },
        } = worker.service.database;
        const row = await waitFor(
          async () => {
            const [r] = await db.select().from(outbox);
            return r && r.status !== 'queued' ? r : undefined;
          },
          3000,
          'the worker to take the message',
        );
        expect(row.status).toBe('dropped');
        expect(row.lastError).toBe('suppressed:unsubscribed');
        expect(paused.smtp.messages).toHaveLength(0);
      } finally {
        await worker.stop();
      }
    } finally {
      await paused.stop();
    }
  });

  it('refuses a tampered, wrong-purpose or missing token with a 4xx page and changes nothing', async () => {
    await subscribe({ email: 'tamper@example.com' });
    const mail = await waitFor(() => t.smtp.to('tamper@example.com')[0], 3000);
    const token = tokenOf(linkIn(mail, 'confirm'));
    const unsubscribeToken = tokenOf(linkIn(mail, 'unsubscribe'));
    const tampered = token.slice(0, -3) + (token.endsWith('abc') ? 'xyz' : 'abc');
    for (const bad of [tampered, unsubscribeToken, '', 'nonsense']) {
      const get = await fetch(`${t.url}/confirm?token=${encodeURIComponent(bad)}`);
      expect(get.status).toBeGreaterThanOrEqual(400);
      expect(get.status).toBeLessThan(500);
      expect(get.headers.get('content-type')).toMatch(/text\/html/);
      const post = await postForm(`${t.url}/confirm`, { token: bad });
      expect(post.status).toBeGreaterThanOrEqual(400);
      expect(post.status).toBeLessThan(500);
    }
    const json = await postJson(`${t.url}/confirm`, { token: tampered });
    expect(await json.json()).toEqual({ error: { code: 'invalid_token', message: expect.any(String) } });
    const {
      db,
      tables: { contacts, subscriptions },
    } = t.service.database;
    const [contact] = await db.select().from(contacts).where(eq(contacts.emailKey, 'tamper@example.com'));
    expect((await db.select().from(subscriptions).where(eq(subscriptions.contactId, contact!.id))).map((s) => s.status)).toEqual([
      'pending',
    ]);
  });

  it('answers bad input with the JSON error shape', async () => {
    const invalid = await subscribe({ email: 'not-an-address' });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toEqual({ error: { code: 'invalid_email', message: expect.any(String) } });
    const unknownList = await subscribe({ email: 'x@example.com', list: 'no-such-list' });
    expect(unknownList.status).toBe(404);
    expect(await unknownList.json()).toEqual({ error: { code: 'unknown_list', message: expect.any(String) } });
  });

  it('reports health and readiness', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: true, redis: true } });
  });
});

describe('without SMTP_URL', () => {
  it('writes each message as an .eml file under the data folder', async () => {
    const local = await startTestService({ env: { SMTP_URL: '' } });
    try {
      await postJson(`${local.url}/subscribe`, { email: 'newcomer@example.com' });
      const eml = readFileSync(await firstDroppedMail(local), 'utf8');
      expect(eml).toContain('To: newcomer@example.com');
      expect(eml).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
      expect(eml).toMatch(/confirm\?token=/);
    } finally {
      await local.stop();
    }
  });
});
