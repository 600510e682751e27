import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/platform/http/tokens.js';
import { canary } from '../support/canary.js';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, firstSweepDone, startTestService, TEST_SECRET, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    for (const slug of ['weekly', 'offers'])
      await db.insert(lists).values({ slug, name: slug === 'weekly' ? 'Weekly' : 'Offers', createdAt: Date.now() });
  });
});
afterAll(async () => {
  await t?.stop();
});

async function contactOf(emailKey: string) {
  const {
    db,
    tables: { contacts },
  } = t.service.database;
  return (await db.select().from(contacts).where(eq(contacts.emailKey, emailKey)))[0];
}
async function subscriptionsOf(emailKey: string) {
  const {
    db,
    tables: { subscriptions },
  } = t.service.database;
  return db
    .select()
    .from(subscriptions)
    .where(eq(subscriptions.contactId, (await contactOf(emailKey))!.id))
    .orderBy(subscriptions.id);
}
async function trailOf(emailKey: string) {
  const {
    db,
    tables: { consentEvents },
  } = t.service.database;
  return db
    .select()
    .from(consentEvents)
    .where(eq(consentEvents.contactId, (await contactOf(emailKey))!.id))
    .orderBy(consentEvents.id);
}
function outboxOf(subscriptionId: number) {
  const {
    db,
    tables: { outbox },
  } = t.service.database;
  return db.select().from(outbox).where(eq(outbox.subscriptionId, subscriptionId)).orderBy(outbox.createdAt, outbox.kind);
}

/** Signs up and returns the confirmation email that arrived for it. */
async function signup(body: Record<string, string>, headers: Record<string, string> = {}) {
  const before = t.smtp.to(body.email!).length;
  expect((await postJson(`${t.url}/subscribe`, body, headers)).status).toBe(202);
  return waitFor(() => t.smtp.to(body.email!)[before], 5000, `confirmation for ${body.email}`);
}

async function confirmFrom(confirmation: Awaited<ReturnType<typeof signup>>) {
  const email = confirmation.envelopeTo[0]!;
  const before = t.smtp.to(email).length;
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  return waitFor(() => t.smtp.to(email)[before], 5000, `welcome for ${email}`);
}

describe('confirming an address suppressed while its request was pending', () => {
  it('answers 409 address_blocked with a clear page, changes nothing and sends nothing', async () => {
    const email = 'blocked.pending@example.com';
    const confirmation = await signup({ email });
    const token = tokenOf(linkIn(confirmation, 'confirm'));
    expect((await postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH)).status).toBe(201);

    const json = await postJson(`${t.url}/confirm`, { token });
    expect(json.status).toBe(409);
    expect(await json.json()).toEqual({ error: { code: 'address_blocked', message: expect.any(String) } });
    const page = await postForm(`${t.url}/confirm`, { token });
    expect(page.status).toBe(409);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('cannot be confirmed');
    // The link's page says so at once, rather than offering a button that cannot work.
    expect((await fetch(`${t.url}/confirm?token=${token}`)).status).toBe(409);

    const [subscription] = await subscriptionsOf(email);
    expect(subscription).toMatchObject({ status: 'pending', confirmedAt: null });
    expect((await trailOf(email)).map((e) => e.action)).not.toContain('confirmed');
    expect((await outboxOf(subscription!.id)).map((r) => r.kind)).toEqual(['confirmation']);
    await canary(t);
    expect(t.smtp.to(email)).toHaveLength(1);
  });
});

describe('a confirm link after its request lapsed', () => {
  it('answers 410 expired before the sweep, with a form to sign up again that works', async () => {
    // The sweep's first round must be over: it would delete the request made to lapse below.
    await firstSweepDone(t);
    const email = 'lapsed@example.com';
    const confirmation = await signup({ email, list: 'weekly', locale: 'fr' });
    const token = tokenOf(linkIn(confirmation, 'confirm'));
    const [subscription] = await subscriptionsOf(email);
    // As time would: the request's week is over, and the hourly sweep has not run yet.
    await t.service.database.transaction(async ({ db, tables: { subscriptions } }) => {
      await db
        .update(subscriptions)
        .set({ confirmExpiresAt: Date.now() - 1000 })
        .where(eq(subscriptions.id, subscription!.id));
    });

    const json = await postJson(`${t.url}/confirm`, { token });
    expect(json.status).toBe(410);
    expect(await json.json()).toEqual({ error: { code: 'expired', message: expect.any(String) } });

    for (const res of [await fetch(`${t.url}/confirm?token=${token}`), await postForm(`${t.url}/confirm`, { token })]) {
      expect(res.status).toBe(410);
      const html = await res.text();
      // In the contact's language, with the address and list filled in.
      expect(html).toContain('<html lang="fr"');
      expect(html).toContain('Ce lien a expiré');
      expect(html).toContain('<form method="post" action="/subscribe">');
      expect(html).toContain(`name="email" value="${email}"`);
      expect(html).toContain('name="list" value="weekly"');
    }
    expect((await subscriptionsOf(email))[0]).toMatchObject({ status: 'pending', confirmedAt: null });
    expect((await trailOf(email)).map((e) => e.action)).not.toContain('confirmed');

    // The page's form signs up again, and the new link confirms.
    const again = await postForm(`${t.url}/subscribe`, { email, list: 'weekly', locale: 'fr' });
    expect(again.status).toBe(303);
    const renewed = await waitFor(() => t.smtp.to(email)[1], 5000, 'the new confirmation');
    const welcome = await confirmFrom(renewed);
    expect(welcome.parsed.subject).toContain('Weekly');
  });

  it('answers 410 expired, in the browser’s language, once the link itself is past its date', async () => {
    const email = 'old.link@example.com';
    await signup({ email });
    const [subscription] = await subscriptionsOf(email);
    const lapsed = createToken([TEST_SECRET], { purpose: 'confirm', subscriptionId: subscription!.id, expiresAt: Date.now() - 1000 });
    const json = await postJson(`${t.url}/confirm`, { token: lapsed });
    expect(json.status).toBe(410);
    expect(await json.json()).toEqual({ error: { code: 'expired', message: expect.any(String) } });
    // Deleted by the sweep: still the way to sign up again, not a bare 404.
    await t.service.database.transaction(async ({ db, tables: { outbox, subscriptions } }) => {
      await db.delete(outbox).where(eq(outbox.subscriptionId, subscription!.id));
      await db.delete(subscriptions).where(eq(subscriptions.id, subscription!.id));
    });
    const page = await postForm(`${t.url}/confirm`, { token: lapsed }, { 'accept-language': 'fr' });
    expect(page.status).toBe(410);
    const html = await page.text();
    expect(html).toContain('<html lang="fr"');
    expect(html).toContain('<form method="post" action="/subscribe">');
  });

  it('with Turnstile on, the page cannot carry the check, so it sends people back to their own form', async () => {
    const guarded = await startTestService({ roles: ['api'], env: { TURNSTILE_SECRET: 'turnstile-test-secret' } });
    try {
      // No human check can pass here, so the request is written straight as a signup would.
      const subscription = await guarded.service.database.transaction(async ({ db, tables: { contacts, subscriptions } }) => {
        const [contact] = await db
          .insert(contacts)
          .values({ email: 'guarded@example.com', emailKey: 'guarded@example.com', locale: 'en', createdAt: Date.now() })
          .returning();
        const [pending] = await db
          .insert(subscriptions)
          .values({ contactId: contact!.id, listId: 1, status: 'pending', createdAt: Date.now(), confirmExpiresAt: Date.now() - 1000 })
          .returning();
        return pending!;
      });
      const token = createToken([TEST_SECRET], { purpose: 'confirm', subscriptionId: subscription.id, expiresAt: Date.now() + 60_000 });
      const page = await postForm(`${guarded.url}/confirm`, { token });
      expect(page.status).toBe(410);
      const html = await page.text();
      expect(html).toContain('sign up again where you first did');
      expect(html).not.toContain('action="/subscribe"');
    } finally {
      await guarded.stop();
    }
  });
});

describe('names in emails', () => {
  const lure = 'Ivy, your account is locked, verify at evil.test';

  it('greets with the name of the request that was confirmed, never one a stranger gave', async () => {
    const email = 'greeted@example.com';
    // A stranger signs the address up, with a message for a name; nobody confirms it.
    await signup({ email, name: lure });
    expect((await contactOf(email))!.name).toBeNull();

    // The person signs up to another list themselves, and confirms.
    const own = await signup({ email, list: 'weekly', name: 'Vic' });
    const welcome = await confirmFrom(own);
    expect(welcome.parsed.text).toContain('Welcome, Vic!');
    expect(welcome.raw).not.toContain('locked');
    expect((await contactOf(email))!.name).toBe('Vic');

    // A later, unconfirmed signup's name does not replace it either.
    await signup({ email, list: 'offers', name: lure });
    expect((await contactOf(email))!.name).toBe('Vic');
  });

  it('an older link of a request replaced since confirms without the newer request’s name', async () => {
    const email = 'replaced@example.com';
    const own = await signup({ email, name: 'Rae' });
    await signup({ email, name: lure });
    const welcome = await confirmFrom(own);
    expect(welcome.parsed.text).toContain('Welcome!');
    expect(welcome.raw).not.toContain('locked');
    expect((await contactOf(email))!.name).toBeNull();
    expect((await subscriptionsOf(email))[0]!.pendingName).toBeNull();
  });

  it('an unconfirmed request’s name goes when the request ends ("not me")', async () => {
    const email = 'not.kept@example.com';
    const confirmation = await signup({ email, name: lure });
    expect(
      (
        await postForm(
          `${t.url}${new URL(linkIn(confirmation, 'unsubscribe')).pathname}${new URL(linkIn(confirmation, 'unsubscribe')).search}`,
          {},
        )
      ).status,
    ).toBe(200);
    expect((await subscriptionsOf(email))[0]).toMatchObject({ status: 'unsubscribed', pendingName: null });
    expect((await contactOf(email))!.name).toBeNull();
  });
});

describe('the language of a confirmed person', () => {
  it('is not rewritten by a pending signup to another list', async () => {
    const email = 'francoise@example.com';
    await confirmFrom(await signup({ email, locale: 'fr' }));
    const other = await signup({ email, list: 'weekly', locale: 'en' });
    expect((await contactOf(email))!.locale).toBe('fr');
    expect(other.parsed.html).toContain('<html lang="fr"');
    // Nor by one in another browser's language.
    await signup({ email, list: 'offers' }, { 'accept-language': 'en' });
    expect((await contactOf(email))!.locale).toBe('fr');
  });

  it('still follows the latest request while nothing is confirmed', async () => {
    const email = 'undecided@example.com';
    await signup({ email, locale: 'en' });
    const second = await signup({ email, list: 'weekly', locale: 'fr' });
    expect((await contactOf(email))!.locale).toBe('fr');
    expect(second.parsed.html).toContain('<html lang="fr"');
  });
});

describe('POST /subscribe as multipart/form-data', () => {
  it('reads the fields like any form: 303 for a browser, 202 for a program, and the confirmation goes out', async () => {
    const form = new FormData();
    form.append('email', 'multi.part@example.com');
    form.append('list', 'weekly');
    form.append('locale', 'fr');
    form.append('name', 'Mia');
    const res = await fetch(`${t.url}/subscribe`, { method: 'POST', body: form, headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/thanks?locale=fr&list=weekly');
    const confirmation = await waitFor(() => t.smtp.to('multi.part@example.com')[0], 5000, 'the confirmation');
    expect(confirmation.parsed.subject).toBe('Confirmez votre inscription à Weekly');
    expect((await subscriptionsOf('multi.part@example.com'))[0]!.pendingName).toBe('Mia');

    const program = new FormData();
    program.append('email', 'multi.program@example.com');
    const json = await fetch(`${t.url}/subscribe`, { method: 'POST', body: program, headers: { accept: 'application/json' } });
    expect(json.status).toBe(202);
    expect(await json.json()).toMatchObject({ status: 'accepted' });
    await waitFor(() => t.smtp.to('multi.program@example.com')[0], 5000, 'the confirmation');
  });

  it('answers bad multipart bodies as it does bad urlencoded ones', async () => {
    const post = (form: FormData | string, headers: Record<string, string> = {}) =>
      fetch(`${t.url}/subscribe`, { method: 'POST', body: form, headers: { accept: 'application/json', ...headers } });
    const codeOf = async (res: Response) => [res.status, ((await res.json()) as { error: { code: string } }).error.code];

    expect(await codeOf(await post(new FormData()))).toEqual([400, 'invalid_email']);
    const twice = new FormData();
    twice.append('email', 'a@example.com');
    twice.append('email', 'b@example.com');
    expect(await codeOf(await post(twice))).toEqual([400, 'invalid_field']);
    const proto = new FormData();
    proto.append('__proto__', 'a@example.com');
    expect(await codeOf(await post(proto))).toEqual([400, 'invalid_email']);
    const crlf = new FormData();
    crlf.append('email', 'a@example.com');
    crlf.append('name', 'Ann\r\nBcc: x@evil.test');
    expect(await codeOf(await post(crlf))).toEqual([400, 'invalid_field']);
    const big = new FormData();
    big.append('email', 'a@example.com');
    big.append('pad', 'x'.repeat(20_000));
    expect((await post(big)).status).toBe(413);
    const many = new FormData();
    for (let i = 0; i < 60; i++) many.append(`f${i}`, 'x');
    expect(await codeOf(await post(many))).toEqual([413, 'too_many_fields']);
    expect(await codeOf(await post('garbage', { 'content-type': 'multipart/form-data; boundary=zzz' }))).toEqual([400, 'invalid_body']);
    expect(await codeOf(await post('garbage', { 'content-type': 'multipart/form-data' }))).toEqual([400, 'invalid_body']);
    await canary(t);
    expect(t.smtp.to('a@example.com')).toHaveLength(0);
  });
});
