import { Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signGenericPayload } from '../../src/features/bounces/generic.js';
import { WEBHOOK_QUEUE } from '../../src/features/webhooks-out/queue.js';
import { webhookCanary } from '../support/canary.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, consoleCookie, startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

const PROVIDER_SECRET = 'provider-webhook-secret-0123456789';
const ALL_EVENTS = ['subscription.confirmed', 'subscription.unsubscribed', 'contact.suppressed', 'contact.erased'];
/** 20 ms doubling until the waits reach 250 ms: 5 attempts (20+40+80+160 = 300 ms of waits). */
const FAST_RETRIES = {
  WEBHOOK_BACKOFF_MS: '20',
  WEBHOOK_RETRY_HORIZON_MS: '250',
  WEBHOOK_RELAY_INTERVAL_MS: '100',
  WEBHOOK_SECRET: PROVIDER_SECRET,
};

let t: TestService;
const receivers: WebhookReceiver[] = [];
beforeAll(async () => {
  t = await startTestService({ env: FAST_RETRIES });
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug: 'weekly', name: 'Weekly', createdAt: Date.now() });
  });
});
afterAll(async () => {
  await t?.stop();
  await Promise.all(receivers.map((receiver) => receiver.close()));
});

const api = (path: string) => `${t.url}/admin/api/webhook-endpoints${path}`;
const call = (method: string, path: string, body?: unknown) =>
  fetch(api(path), {
    method,
    headers: { ...ADMIN_AUTH, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** A receiver registered as an endpoint for `events`; its secret is the one the API answered. */
async function registeredReceiver(events = ALL_EVENTS, answer?: Parameters<typeof startWebhookReceiver>[0]) {
  const receiver = await startWebhookReceiver(answer);
  receivers.push(receiver);
  const res = await postJson(api(''), { url: receiver.url, events }, ADMIN_AUTH);
  expect(res.status).toBe(201);
  const { id, secret } = (await res.json()) as { id: string; secret: string };
  receiver.secret = secret;
  return { receiver, id };
}

/** A link from a mail, pointed at the test service (mail links carry PUBLIC_URL). */
const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

async function signupAndConfirm(email: string) {
  expect((await postJson(`${t.url}/subscribe`, { email, list: 'weekly' })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, `confirmation for ${email}`);
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  return waitFor(() => t.smtp.to(email)[1], 5000, `welcome for ${email}`);
}

const deliveryRows = async (endpointId: string) => {
  const {
    db,
    tables: { webhookDeliveries },
  } = t.service.database;
  return db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointId));
};
const endpointRow = async (id: string) => (await call('GET', `/${id}`)).json() as Promise<Record<string, unknown>>;

/** Waits until every delivery of the endpoint is delivered or failed: its receiver then has all it will ever get. */
const deliveriesEnded = (endpointId: string) =>
  waitFor(
    async () => (await deliveryRows(endpointId)).every((row) => row.status !== 'queued'),
    5000,
    `the deliveries of ${endpointId} to end`,
  );

/**
 * Waits until the delivery has no job left in the webhooks queue (a job that ends, however, is
 * removed): nothing is trying to send it, and only the relay could hand it again.
 */
async function jobGone(deliveryId: string): Promise<void> {
  const connection = new Redis(t.config.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(WEBHOOK_QUEUE, { connection, prefix: t.config.queuePrefix });
  try {
    await waitFor(async () => (await queue.getJob(deliveryId)) === undefined, 5000, `the job of ${deliveryId} to end`);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

describe('outbound webhooks: endpoints', () => {
  it('creates, lists, reads, changes and deletes an endpoint; the secret is shown once', async () => {
    const created = await postJson(
      api(''),
      { url: 'https://hooks.example.com/optin', events: ['contact.erased'], description: 'CRM' },
      ADMIN_AUTH,
    );
    expect(created.status).toBe(201);
    const { id, secret } = (await created.json()) as { id: string; secret: string };
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);

    const listed = (await (await call('GET', '')).json()) as { items: Record<string, unknown>[] };
    const item = listed.items.find((e) => e.id === id)!;
    expect(item).toEqual({
      id,
      url: 'https://hooks.example.com/optin',
      description: 'CRM',
      events: ['contact.erased'],
      enabled: true,
      disabledReason: null,
      failingSince: null,
      waiting: 0,
      createdAt: expect.any(String),
    });
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(await endpointRow(id)).toEqual(item);

    const patched = await call('PATCH', `/${id}`, {
      events: ['subscription.confirmed', 'contact.erased'],
      enabled: false,
      url: 'https://hooks.example.com/v2',
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({
      id,
      url: 'https://hooks.example.com/v2',
      events: ['subscription.confirmed', 'contact.erased'],
      enabled: false,
    });

    expect((await call('DELETE', `/${id}`)).status).toBe(204);
    expect((await call('GET', `/${id}`)).status).toBe(404);
    expect((await call('DELETE', `/${id}`)).status).toBe(404);
    expect((await call('PATCH', `/${id}`, { enabled: true })).status).toBe(404);
  });

  it('refuses bad fields with a 400 naming the field', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ events: ['contact.erased'] }, 'invalid_url', /"url"/],
      [{ url: 'ftp://hooks.example.com/', events: ['contact.erased'] }, 'invalid_url', /"url"/],
      [{ url: 'not a url', events: ['contact.erased'] }, 'invalid_url', /"url"/],
      [{ url: 'https://user:pw@hooks.example.com/', events: ['contact.erased'] }, 'invalid_url', /"url"/],
      [{ url: 'https://hooks.example.com/' }, 'invalid_events', /"events"/],
      [{ url: 'https://hooks.example.com/', events: [] }, 'invalid_events', /"events"/],
      [{ url: 'https://hooks.example.com/', events: 'contact.erased' }, 'invalid_events', /"events"/],
      [{ url: 'https://hooks.example.com/', events: ['contact.erased', 'contact.created'] }, 'invalid_events', /contact\.created/],
      [{ url: 'https://hooks.example.com/', events: ['contact.erased'], description: 42 }, 'invalid_description', /"description"/],
    ];
    for (const [body, code, message] of cases) {
      const res = await postJson(api(''), body, ADMIN_AUTH);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code, JSON.stringify(body)).toBe(code);
      expect(error.message).toMatch(message);
    }
    const { id } = (await (
      await postJson(api(''), { url: 'https://hooks.example.com/', events: ['contact.erased'] }, ADMIN_AUTH)
    ).json()) as { id: string };
    expect((await call('PATCH', `/${id}`, { enabled: 'yes' })).status).toBe(400);
    expect((await call('PATCH', `/${id}`, { events: ['nope'] })).status).toBe(400);
    expect((await endpointRow(id)).events).toEqual(['contact.erased']);
    expect((await fetch(api(''), { headers: { accept: 'application/json' } })).status).toBe(401);
    await call('DELETE', `/${id}`);
  });
});

describe('outbound webhooks: events', () => {
  it('tells a receiver of every confirm, unsubscribe, suppression and erasure, signed, with the documented payloads', async () => {
    const { receiver, id } = await registeredReceiver();
    // An endpoint that listens to erasures only gets nothing else.
    const { receiver: erasuresOnly, id: erasuresOnlyId } = await registeredReceiver(['contact.erased']);

    const welcomeA = await signupAndConfirm('Alice.Events@Example.com');
    await waitFor(() => receiver.accepted().length === 1, 5000, 'subscription.confirmed');
    expect((await oneClick(local(linkIn(welcomeA, 'unsubscribe')))).status).toBe(200);
    const welcomeB = await signupAndConfirm('bob.events@example.com');
    expect((await postForm(local(linkIn(welcomeB, 'unsubscribe')), { scope: 'all' })).status).toBe(200);
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'Carol.Events@example.com', reason: 'manual' }, ADMIN_AUTH)).status,
    ).toBe(201);
    const bounce = JSON.stringify({
      events: [{ id: 'evt-outbound-1', type: 'hard_bounce', email: 'dave.events@example.com', reason: '550 5.1.1 user unknown' }],
    });
    const provider = await fetch(`${t.url}/webhooks/generic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-optin-signature': signGenericPayload(PROVIDER_SECRET, bounce) },
      body: bounce,
    });
    expect(provider.status).toBe(200);
    // Alice's two events are told before she is erased: a delivery still waiting at an erasure is
    // scrubbed and never sent (test/webhooks-out/erasure-scrub.test.ts), which is not this test's case.
    await waitFor(
      () => receiver.accepted().filter((e) => e.data.email === 'alice.events@example.com').length === 2,
      10_000,
      'Alice’s events before her erasure',
    );
    expect((await fetch(`${t.url}/admin/api/contacts/alice.events@example.com`, { method: 'DELETE', headers: ADMIN_AUTH })).status).toBe(
      204,
    );

    const events = await waitFor(() => (receiver.accepted().length >= 7 ? receiver.accepted() : undefined), 10_000, 'seven events');
    const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // Deliveries run side by side: arrival order is not promised (receivers order by `timestamp`).
    expect(events).toHaveLength(7);
    expect(events).toEqual(
      expect.arrayContaining([
        {
          type: 'subscription.confirmed',
          timestamp: iso,
          data: { email: 'alice.events@example.com', list: 'weekly', confirmedAt: iso, locale: 'en' },
        },
        {
          type: 'subscription.unsubscribed',
          timestamp: iso,
          data: { email: 'alice.events@example.com', list: 'weekly', at: iso, source: 'one-click' },
        },
        {
          type: 'subscription.confirmed',
          timestamp: iso,
          data: { email: 'bob.events@example.com', list: 'weekly', confirmedAt: iso, locale: 'en' },
        },
        {
          type: 'subscription.unsubscribed',
          timestamp: iso,
          data: { email: 'bob.events@example.com', list: null, at: iso, source: 'page' },
        },
        { type: 'contact.suppressed', timestamp: iso, data: { email: 'carol.events@example.com', reason: 'manual', list: null } },
        { type: 'contact.suppressed', timestamp: iso, data: { email: 'dave.events@example.com', reason: 'bounced', list: null } },
        { type: 'contact.erased', timestamp: iso, data: { email: 'alice.events@example.com' } },
      ]),
    );
    expect(receiver.received.every((r) => r.verified)).toBe(true);
    expect(receiver.received.every((r) => /^msg_[0-9a-f]{32}$/.test(r.id) && Math.abs(Number(r.timestamp) - Date.now() / 1000) < 300)).toBe(
      true,
    );
    expect(receiver.received.map((r) => r.body).join('')).not.toMatch(/127\.0\.0\.1|"ip"|userAgent/);

    await waitFor(() => erasuresOnly.accepted().length === 1, 5000, 'the erasure at the second endpoint');
    // Deliveries are written with their change: every change above is made, so these are all it gets.
    await deliveriesEnded(erasuresOnlyId);
    expect(erasuresOnly.accepted()).toEqual([{ type: 'contact.erased', timestamp: iso, data: { email: 'alice.events@example.com' } }]);
    expect(erasuresOnly.received.every((r) => r.verified)).toBe(true);

    // The erasure, once told, keeps no copy of the address.
    const erased = await waitFor(
      async () => (await deliveryRows(id)).find((row) => row.eventType === 'contact.erased' && row.status === 'delivered'),
      5000,
      'the erasure delivered',
    );
    expect(erased.payload).not.toContain('alice');
    expect(JSON.parse(erased.payload)).toEqual({ type: 'contact.erased', timestamp: expect.any(String), data: { email: null } });
    // So are the events told before about the same person; the others keep theirs.
    const stored = await deliveryRows(id);
    expect(
      stored
        .filter((row) => row.payload.includes('"email":null'))
        .map((row) => row.eventType)
        .sort(),
    ).toEqual(['contact.erased', 'subscription.confirmed', 'subscription.unsubscribed']);
    expect(stored.map((row) => row.payload).join('')).not.toContain('alice');
    expect(stored.filter((row) => row.payload.includes('bob.events@example.com'))).toHaveLength(2);
    const listed = (await (await call('GET', `/${id}/deliveries`)).json()) as {
      items: { id: string; type: string; status: string; attempts: { statusCode: number }[] }[];
    };
    expect(listed.items).toHaveLength(7);
    expect(listed.items.every((d) => d.status === 'delivered' && d.attempts.length === 1 && d.attempts[0]!.statusCode === 200)).toBe(true);
    const retry = await postJson(api(`/${id}/deliveries/${erased.id}/retry`), {}, ADMIN_AUTH);
    expect(retry.status).toBe(409);
    expect(((await retry.json()) as { error: { code: string } }).error.code).toBe('delivery_erased');
  });

  it('retries a receiver that answers 500 until it answers 200: each event arrives once per webhook-id, and "send again" repeats the id', async () => {
    const { receiver, id } = await registeredReceiver(['contact.suppressed'], ({ seenBefore }) => (seenBefore < 3 ? 500 : 200));
    for (const email of ['retry1@example.com', 'retry2@example.com']) {
      expect((await postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH)).status).toBe(201);
    }
    await waitFor(async () => (await deliveryRows(id)).filter((row) => row.status === 'delivered').length === 2, 10_000, 'two deliveries');
    expect(
      receiver
        .accepted()
        .map((e) => e.data.email)
        .sort(),
    ).toEqual(['retry1@example.com', 'retry2@example.com']);
    const ids = new Set(receiver.received.map((r) => r.id));
    expect(ids.size).toBe(2);
    for (const webhookId of ids)
      expect(receiver.received.filter((r) => r.id === webhookId).map((r) => r.status)).toEqual([500, 500, 500, 200]);
    // The same body, byte for byte, on every attempt; each attempt signed anew.
    for (const webhookId of ids) expect(new Set(receiver.received.filter((r) => r.id === webhookId).map((r) => r.body)).size).toBe(1);

    const listed = (await (await call('GET', `/${id}/deliveries`)).json()) as {
      items: { id: string; attempts: { statusCode: number | null; durationMs: number; at: string; error: string | null }[] }[];
    };
    for (const delivery of listed.items) {
      expect(delivery.attempts.map((a) => [a.statusCode, a.error])).toEqual([
        [500, 'HTTP 500'],
        [500, 'HTTP 500'],
        [500, 'HTTP 500'],
        [200, null],
      ]);
    }
    const again = listed.items[0]!.id;
    const retry = await postJson(api(`/${id}/deliveries/${again}/retry`), {}, ADMIN_AUTH);
    expect(retry.status).toBe(202);
    await waitFor(() => receiver.received.filter((r) => r.id === again).length === 5, 5000, 'the delivery sent again');
    expect(receiver.accepted()).toHaveLength(2);
    expect((await postJson(api(`/${id}/deliveries/msg_nope/retry`), {}, ADMIN_AUTH)).status).toBe(404);
  });

  it('disables an endpoint that kept failing for the retry horizon and holds its deliveries, new ones too; enabling it again clears the reason', async () => {
    const { receiver, id } = await registeredReceiver(['contact.suppressed'], () => 503);
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'always-down@example.com', reason: 'manual' }, ADMIN_AUTH)).status,
    ).toBe(201);
    const endpoint = await waitFor(
      async () => {
        const row = await endpointRow(id);
        return row.enabled === false && row;
      },
      10_000,
      'the endpoint to be disabled',
    );
    expect(endpoint).toMatchObject({ disabledReason: expect.stringMatching(/every delivery has failed.*HTTP 503/), waiting: 1 });
    // Not given up: the delivery that failed last waits with the others (test/webhooks-out/disabled-endpoints.test.ts).
    expect((await deliveryRows(id)).map((row) => [row.status, row.attempts])).toEqual([['queued', 5]]);
    expect(receiver.received).toHaveLength(5);

    // Disabled: a new change writes its delivery, and nothing is sent.
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'while-disabled@example.com', reason: 'manual' }, ADMIN_AUTH)).status,
    ).toBe(201);
    await webhookCanary(t);
    expect(await deliveryRows(id)).toHaveLength(2);
    expect(receiver.received).toHaveLength(5);

    const enabled = (await (await call('PATCH', `/${id}`, { enabled: true })).json()) as Record<string, unknown>;
    expect(enabled).toMatchObject({ enabled: true, disabledReason: null, failingSince: null, waiting: 2 });
    expect((await call('DELETE', `/${id}`)).status).toBe(204);
  });

  it('never sends to an endpoint disabled while its delivery waits for a retry, and sends it once enabled again', async () => {
    let down = true;
    const { receiver, id } = await registeredReceiver(['contact.suppressed'], () => (down ? 500 : 200));
    expect((await postJson(`${t.url}/admin/api/suppressions`, { email: 'held@example.com', reason: 'manual' }, ADMIN_AUTH)).status).toBe(
      201,
    );
    await waitFor(() => receiver.received.length >= 1, 5000, 'a first attempt');
    expect((await call('PATCH', `/${id}`, { enabled: false })).status).toBe(200);
    const sentBefore = receiver.received.length;
    // Its job runs once more, finds the endpoint disabled and ends; the relay hands no disabled endpoint's rows.
    await jobGone(receiver.received[0]!.id);
    // At most an attempt already under way when it was disabled.
    expect(receiver.received.length).toBeLessThanOrEqual(sentBefore + 1);
    const held = receiver.received.length;
    // The relay and the worker have gone past the hold: still nothing more.
    await webhookCanary(t);
    expect(receiver.received).toHaveLength(held);
    expect((await deliveryRows(id))[0]!.status).toBe('queued');

    down = false;
    expect((await call('PATCH', `/${id}`, { enabled: true })).status).toBe(200);
    await waitFor(() => receiver.accepted().length === 1, 5000, 'the held delivery');
    expect(receiver.accepted()[0]!.data.email).toBe('held@example.com');
  });

  it('writes a delivery per endpoint for every address of a large CSV import (a thousand changes in one transaction, ten endpoints)', async () => {
    // An API-only service of its own: no worker spends the other tests' time on ten thousand jobs.
    const bulk = await startTestService({ roles: ['api'] });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await postJson(
          `${bulk.url}/admin/api/webhook-endpoints`,
          { url: `http://127.0.0.1:59999/bulk-${i}`, events: ['contact.suppressed'] },
          ADMIN_AUTH,
        );
        ids.push(((await res.json()) as { id: string }).id);
      }
      const csv = ['email', ...Array.from({ length: 1000 }, (_, i) => `bulk${i}@import.example`), ''].join('\r\n');
      const form = new FormData();
      form.append('file', new Blob([csv], { type: 'text/csv' }), 'bulk.csv');
      const res = await fetch(`${bulk.url}/admin/api/suppressions/import`, { method: 'POST', body: form, headers: ADMIN_AUTH });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ added: 1000 });
      const {
        db,
        tables: { webhookDeliveries },
      } = bulk.service.database;
      for (const id of ids)
        expect(
          await db.select({ id: webhookDeliveries.id }).from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id)),
        ).toHaveLength(1000);
    } finally {
      await bulk.stop();
    }
  });

  it('finds nothing to send for a deleted endpoint', async () => {
    const { receiver, id } = await registeredReceiver(['contact.suppressed'], () => 500);
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'deleted-endpoint@example.com', reason: 'manual' }, ADMIN_AUTH)).status,
    ).toBe(201);
    await waitFor(() => receiver.received.length >= 1, 5000, 'a first attempt');
    expect((await call('DELETE', `/${id}`)).status).toBe(204);
    const after = receiver.received.length;
    // Its job runs once more, finds no row and ends.
    await jobGone(receiver.received[0]!.id);
    expect(receiver.received.length).toBeLessThanOrEqual(after + 1);
    expect(await deliveryRows(id)).toHaveLength(0);
  });
});

describe('outbound webhooks in production', () => {
  it('refuses a plain http URL except to this machine (with WEBHOOK_ALLOW_PRIVATE=true: test/webhooks-out/private-networks.test.ts)', async () => {
    const prod = await startTestService({
      env: { NODE_ENV: 'production', PUBLIC_URL: 'https://optin.test', WEBHOOK_ALLOW_PRIVATE: 'true' },
    });
    try {
      const post = (url: string) => postJson(`${prod.url}/admin/api/webhook-endpoints`, { url, events: ['contact.erased'] }, ADMIN_AUTH);
      const refused = await post('http://hooks.example.com/optin');
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { code: string; message: string } }).error).toEqual({
        code: 'invalid_url',
        message: expect.stringContaining('https://'),
      });
      expect((await post('https://hooks.example.com/optin')).status).toBe(201);
      for (const local of ['http://localhost:8080/hook', 'http://127.0.0.1:8080/hook', 'http://[::1]:8080/hook'])
        expect((await post(local)).status, local).toBe(201);
      // Outside production plain http is allowed to any host (a receiver on a test network).
      expect((await postJson(api(''), { url: 'http://hooks.example.com/optin', events: ['contact.erased'] }, ADMIN_AUTH)).status).toBe(201);
    } finally {
      await prod.stop();
    }
  });
});

describe('outbound webhooks: console', () => {
  /** A signed-in browser, reduced to its cookie and the CSRF token its pages carry. */
  async function consoleSession() {
    const cookie = await consoleCookie(t.url);
    const get = (path: string) => fetch(`${t.url}${path}`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await get('/admin/webhooks')).text())![1]!;
    const post = (path: string, fields: [string, string][], withCsrf = true) =>
      fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: new URLSearchParams(withCsrf ? [['_csrf', csrf], ...fields] : fields).toString(),
        redirect: 'manual',
      });
    return { get, post };
  }

  it('registers an endpoint (secret shown once), lists it, disables, enables, sends a delivery again and deletes it, without script', async () => {
    const browser = await consoleSession();
    const receiver = await startWebhookReceiver();
    receivers.push(receiver);
    const created = await browser.post('/admin/webhooks', [
      ['url', receiver.url],
      ['description', 'Console hook'],
      ['events', 'contact.suppressed'],
    ]);
    expect(created.status).toBe(200);
    const page = await created.text();
    receiver.secret = /whsec_[A-Za-z0-9+/=]+/.exec(page)![0];
    const id = /ep_[0-9a-f]{32}/.exec(page)![0];
    expect(created.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(page).not.toMatch(/<script/i);

    const list = await (await browser.get('/admin/webhooks')).text();
    expect(list).toContain(receiver.url);
    expect(list).toContain('Console hook');
    expect(list).not.toContain(receiver.secret);
    // Without the CSRF token a form post is refused.
    expect((await browser.post(`/admin/webhooks/${id}/disable`, [], false)).status).toBe(403);

    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'console-hook@example.com', reason: 'manual' }, ADMIN_AUTH)).status,
    ).toBe(201);
    await waitFor(() => receiver.accepted().length === 1, 5000, 'the event');
    const delivery = await waitFor(
      async () => (await deliveryRows(id)).find((row) => row.status === 'delivered'),
      5000,
      'the delivery marked delivered',
    );
    const detail = await (await browser.get(`/admin/webhooks/${id}`)).text();
    expect(detail).toContain(delivery.id);
    expect(detail).toMatch(/HTTP 200/);
    expect(detail).toContain(`/admin/webhooks/${id}/deliveries/${delivery.id}/retry`);

    const again = await browser.post(`/admin/webhooks/${id}/deliveries/${delivery.id}/retry`, []);
    expect(again.status).toBe(303);
    await waitFor(() => receiver.received.length === 2, 5000, 'the delivery sent again');
    expect(receiver.received.map((r) => r.id)).toEqual([delivery.id, delivery.id]);

    expect((await browser.post(`/admin/webhooks/${id}/disable`, [])).status).toBe(303);
    expect((await endpointRow(id)).enabled).toBe(false);
    expect(await (await browser.get(`/admin/webhooks/${id}`)).text()).toContain('disabled by an admin');
    expect((await browser.post(`/admin/webhooks/${id}/enable`, [])).status).toBe(303);
    expect((await endpointRow(id)).enabled).toBe(true);
    const refused = await browser.post('/admin/webhooks', [
      ['url', 'ftp://x.example/'],
      ['events', 'contact.erased'],
    ]);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('&quot;url&quot;');
    expect((await browser.post(`/admin/webhooks/${id}/delete`, [])).status).toBe(303);
    expect((await browser.get(`/admin/webhooks/${id}`)).status).toBe(404);
  });
});
