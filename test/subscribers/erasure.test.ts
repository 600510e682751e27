import { eq, isNull } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredRequests } from '../../src/features/signup/expiry.js';
import { CONFIRM_TOKEN_TTL_MS } from '../../src/platform/http/tokens.js';
import { canary } from '../support/canary.js';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, startWorkerBeside, TEST_SECRET, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const api = (url: string, path: string, init: RequestInit = {}) =>
  fetch(`${url}/admin/api${path}`, { ...init, headers: { ...ADMIN_AUTH, ...(init.headers as Record<string, string> | undefined) } });

interface Page {
  items: { id: number; email: string | null; reason: string; list: string | null; source: string; createdAt: string }[];
}

/** Signs up, confirms through the real emails, and returns once the welcome email arrived. */
async function subscribed(email: string): Promise<void> {
  expect(
    (await postJson(`${t.url}/subscribe`, { email, name: 'Erin' }, { 'user-agent': 'ErasureTest/1.0', referer: 'https://site.test/join' }))
      .status,
  ).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'confirmation email');
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  await waitFor(() => t.smtp.to(email).length === 2, 5000, 'welcome email');
}

describe('DELETE /admin/api/contacts/:email', () => {
  it('deletes the contact and its trail, keeps only a hashed erased entry, and never mails the address again', async () => {
    await subscribed('erin.erase@example.com');
    const {
      db,
      tables: { consentEvents, contacts, outbox, subscriptions, suppressions },
    } = t.service.database;
    // A per-list entry naming the address: it must not survive with the address in it.
    expect(
      (
        await postJson(
          `${t.url}/admin/api/suppressions`,
          { email: 'erin.erase@example.com', list: 'default', reason: 'complained' },
          ADMIN_AUTH,
        )
      ).status,
    ).toBe(201);
    const [contact] = await db.select().from(contacts).where(eq(contacts.emailKey, 'erin.erase@example.com'));
    expect((await db.select().from(consentEvents).where(eq(consentEvents.contactId, contact!.id))).length).toBeGreaterThan(1);

    const erased = await api(t.url, '/contacts/Erin.Erase%40EXAMPLE.com', { method: 'DELETE' });
    expect(erased.status).toBe(204);

    expect((await api(t.url, '/contacts/erin.erase%40example.com')).status).toBe(404);
    expect(await (await api(t.url, '/contacts/erin.erase%40example.com')).json()).toEqual({
      error: { code: 'unknown_contact', message: expect.any(String) },
    });
    expect(await db.select().from(contacts).where(eq(contacts.id, contact!.id))).toEqual([]);
    expect(await db.select().from(subscriptions).where(eq(subscriptions.contactId, contact!.id))).toEqual([]);
    expect(await db.select().from(consentEvents).where(eq(consentEvents.contactId, contact!.id))).toEqual([]);
    expect(await db.select().from(outbox).where(isNull(outbox.subscriptionId))).toEqual([]);
    // Nothing anywhere in the database still names the address, its IP proof or its user agent.
    const dump = JSON.stringify([
      await db.select().from(consentEvents),
      await db.select().from(suppressions),
      await db.select().from(contacts),
    ]);
    expect(dump).not.toContain('erin.erase');
    expect(dump).not.toContain('ErasureTest/1.0');
    expect(await db.select().from(consentEvents).where(eq(consentEvents.action, 'erased'))).toEqual([
      expect.objectContaining({ contactId: null, listId: null, ip: null, userAgent: null, source: null }),
    ]);

    // The search by address still finds the entry by its keyed hash, without showing the address.
    const found = (await (await api(t.url, '/suppressions?q=ERIN.erase%40example.com')).json()) as Page;
    expect(found.items).toEqual([
      { id: expect.any(Number), email: null, reason: 'erased', list: null, source: 'admin', createdAt: expect.any(String) },
    ]);
    const [row] = await db.select().from(suppressions).where(eq(suppressions.id, found.items[0]!.id));
    expect(row).toMatchObject({ email: null, domain: null, listId: null, reason: 'erased' });
    expect(row!.emailHash).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // A new signup, in any case, sends nothing and stores nothing.
    const before = t.smtp.messages.length;
    expect((await postJson(`${t.url}/subscribe`, { email: 'ERIN.ERASE@example.com' })).status).toBe(202);
    await canary(t);
    expect(t.smtp.messages.length).toBe(before);
    expect(await db.select().from(contacts).where(eq(contacts.emailKey, 'erin.erase@example.com'))).toEqual([]);

    // Erasing again is harmless; an address never seen is 404.
    expect((await api(t.url, '/contacts/erin.erase%40example.com', { method: 'DELETE' })).status).toBe(204);
    expect(await db.select().from(suppressions).where(eq(suppressions.reason, 'erased'))).toHaveLength(1);
    expect((await api(t.url, '/contacts/nobody.here%40example.com', { method: 'DELETE' })).status).toBe(404);
    expect((await api(t.url, '/contacts/not-an-address', { method: 'DELETE' })).status).toBe(400);
    expect((await fetch(`${t.url}/admin/api/contacts/erin.erase%40example.com`, { method: 'DELETE' })).status).toBe(401);
  });

  it('drops mail already queued for the contact', async () => {
    const paused = await startTestService({ roles: ['api'] });
    try {
      expect((await postJson(`${paused.url}/subscribe`, { email: 'queued.erase@example.com' })).status).toBe(202);
      const {
        db,
        tables: { outbox },
      } = paused.service.database;
      await waitFor(
        async () => (await paused.service.queue.queue.getWaitingCount()) === 1,
        5000,
        'the relay to hand the confirmation to the queue',
      );
      expect((await db.select().from(outbox))[0]?.handedAt).not.toBeNull();
      expect((await api(paused.url, '/contacts/queued.erase%40example.com', { method: 'DELETE' })).status).toBe(204);

      const worker = await startWorkerBeside(paused);
      try {
        await waitFor(
          async () => {
            const counts = await worker.service.queue.queue.getJobCounts('waiting', 'active', 'delayed');
            return Object.values(counts).every((n) => n === 0);
          },
          5000,
          'the worker to take the queued job',
        );
        await canary(paused);
        expect(paused.smtp.messages).toHaveLength(0);
      } finally {
        await worker.stop();
      }
    } finally {
      await paused.stop();
    }
  });
});

describe('GET /admin/api/contacts/:email/export', () => {
  it('downloads the contact, its subscriptions and consent trail as JSON', async () => {
    await subscribed('exported@example.com');
    const res = await api(t.url, '/contacts/Exported%40Example.com/export');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="?contact-export\.json"?$/);
    const record = (await res.json()) as Record<string, unknown>;
    expect(record).toMatchObject({
      exportedAt: expect.any(String),
      email: 'exported@example.com',
      name: 'Erin',
      subscriptions: [expect.objectContaining({ list: 'default', status: 'confirmed' })],
      consent: [
        expect.objectContaining({
          action: 'subscribe_requested',
          list: 'default',
          ip: expect.any(String),
          userAgent: 'ErasureTest/1.0',
          source: 'https://site.test/join',
        }),
        expect.objectContaining({ action: 'confirmed' }),
      ],
    });
    expect((await api(t.url, '/contacts/unknown.person%40example.com/export')).status).toBe(404);
  });
});

describe('expiry of never-confirmed signups', () => {
  it('deletes expired pending subscriptions and contacts left with nothing, keeping only that a request expired', async () => {
    const database = t.service.database;
    const {
      db,
      tables: { consentEvents, contacts, subscriptions },
    } = database;
    expect((await postJson(`${t.url}/subscribe`, { email: 'never.confirms@example.com' }, { 'user-agent': 'ExpiryTest/1.0' })).status).toBe(
      202,
    );
    await subscribed('keeps.subscription@example.com');
    const [pending] = await db.select().from(contacts).where(eq(contacts.emailKey, 'never.confirms@example.com'));
    await waitFor(() => t.smtp.to('never.confirms@example.com')[0], 5000, 'confirmation email');

    // Not yet expired: nothing happens.
    expect(await deleteExpiredRequests(database, [TEST_SECRET])).toEqual({ subscriptions: 0, contacts: 0 });
    const outcome = await deleteExpiredRequests(database, [TEST_SECRET], Date.now() + CONFIRM_TOKEN_TTL_MS + 1000);
    expect(outcome.subscriptions).toBeGreaterThanOrEqual(1);
    expect(await db.select().from(contacts).where(eq(contacts.id, pending!.id))).toEqual([]);
    expect(await db.select().from(subscriptions).where(eq(subscriptions.contactId, pending!.id))).toEqual([]);
    expect(JSON.stringify(await db.select().from(consentEvents))).not.toContain('ExpiryTest/1.0');
    const expired = await db.select().from(consentEvents).where(eq(consentEvents.action, 'confirmation_expired'));
    expect(expired.length).toBe(outcome.subscriptions);
    expect(expired[0]).toMatchObject({ contactId: null, listId: expect.any(Number), ip: null, userAgent: null, source: null });
    // A confirmed subscriber is untouched.
    expect((await api(t.url, '/contacts/keeps.subscription%40example.com')).status).toBe(200);
  });
});
