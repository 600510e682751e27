import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, consoleCookie, REDIS_URL, startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

/** A failed attempt is tried again 2 s later: long enough to erase the person in between. */
const SLOW_RETRIES = { WEBHOOK_BACKOFF_MS: '2000', WEBHOOK_RETRY_HORIZON_MS: '600000', WEBHOOK_RELAY_INTERVAL_MS: '100' };
const ADA = 'ada.erased@example.com';

let t: TestService;
const receivers: WebhookReceiver[] = [];
beforeAll(async () => {
  t = await startTestService({ env: SLOW_RETRIES });
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug: 'weekly', name: 'Weekly', createdAt: Date.now() });
  });
});
afterAll(async () => {
  await t?.stop();
  await Promise.all(receivers.map((receiver) => receiver.close()));
});

const api = (path: string) => `${t.url}/admin/api/webhook-endpoints${path}`;
const call = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(api(path), {
    method,
    headers: { ...ADMIN_AUTH, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
};

async function registered(events: string[], answer?: Parameters<typeof startWebhookReceiver>[0]) {
  const receiver = await startWebhookReceiver(answer);
  receivers.push(receiver);
  const res = await call('POST', '', { url: receiver.url, events });
  expect(res.status).toBe(201);
  receiver.secret = res.body.secret;
  return { receiver, id: res.body.id as string };
}

interface Delivery {
  id: string;
  type: string;
  status: string;
  payload: { data: { email?: string | null } };
  attempts: { error: string | null }[];
}
const deliveriesOf = async (endpointId: string) => (await call('GET', `/${endpointId}/deliveries?limit=500`)).body.items as Delivery[];
const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;
const mentions = (receiver: WebhookReceiver, email: string) => receiver.received.filter((r) => r.json.data.email === email);

describe('an erasure scrubs every webhook delivery that holds the address', () => {
  it('whatever its state or endpoint: ended ones, queued ones, held ones, at endpoints that do not listen to erasures; none is sent again', async () => {
    // A: never hears of erasures; its deliveries about Ada end before she is erased.
    const a = await registered(['subscription.confirmed', 'subscription.unsubscribed']);
    // B: hears of everything, erasures included.
    const b = await registered(['subscription.confirmed', 'subscription.unsubscribed', 'contact.suppressed', 'contact.erased']);
    // F: failing when Ada is erased, so her confirmation is still queued for a retry.
    let fDown = true;
    const f = await registered(['subscription.confirmed', 'contact.suppressed'], () => (fDown ? 500 : 200));
    // D: disabled when she leaves, so her unsubscribe is held for it.
    const d = await registered(['subscription.unsubscribed', 'contact.suppressed']);

    expect((await postJson(`${t.url}/subscribe`, { email: ADA, list: 'weekly' })).status).toBe(202);
    const confirmation = await waitFor(() => t.smtp.to(ADA)[0], 5000, 'the confirmation');
    expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
    const welcome = await waitFor(() => t.smtp.to(ADA)[1], 5000, 'the welcome');
    await waitFor(() => a.receiver.accepted().length === 1 && b.receiver.accepted().length === 1, 5000, 'the confirmation told');
    await waitFor(async () => (await deliveriesOf(f.id))[0]?.attempts.length === 1, 5000, "F's first failed attempt");

    expect((await call('PATCH', `/${d.id}`, { enabled: false })).status).toBe(200);
    expect((await oneClick(local(linkIn(welcome, 'unsubscribe')))).status).toBe(200);
    await waitFor(() => a.receiver.accepted().length === 2 && b.receiver.accepted().length === 2, 5000, 'the unsubscribe told');
    expect((await call('GET', `/${d.id}`)).body.waiting).toBe(1);
    const [fConfirmation] = await deliveriesOf(f.id);
    expect(fConfirmation).toMatchObject({ status: 'queued', payload: { data: { email: ADA } } });

    expect((await fetch(`${t.url}/admin/api/contacts/${ADA}`, { method: 'DELETE', headers: ADMIN_AUTH })).status).toBe(204);
    await waitFor(() => b.receiver.accepted().some((event) => event.type === 'contact.erased'), 5000, 'the erasure told to B');
    expect(b.receiver.accepted().find((event) => event.type === 'contact.erased')!.data.email).toBe(ADA);
    await waitFor(
      async () => (await deliveriesOf(b.id)).find((delivery) => delivery.type === 'contact.erased')?.status === 'delivered',
      5000,
      "the erasure's own delivery ended",
    );

    // No stored delivery, body or attempt, at any endpoint, holds the address any more.
    const stored = {
      a: await deliveriesOf(a.id),
      b: await deliveriesOf(b.id),
      f: await deliveriesOf(f.id),
      d: await deliveriesOf(d.id),
    };
    expect(JSON.stringify(stored)).not.toContain('ada.erased');
    expect(stored.a.map((delivery) => [delivery.type, delivery.status])).toEqual([
      ['subscription.unsubscribed', 'delivered'],
      ['subscription.confirmed', 'delivered'],
    ]);
    // What was still waiting is not sent: there is nothing left to tell.
    expect(stored.f.map((delivery) => delivery.status)).toEqual(['erased']);
    expect(stored.d.map((delivery) => delivery.status)).toEqual(['erased']);
    expect((await call('GET', `/${d.id}`)).body.waiting).toBe(0);

    // "Send again" on any of them answers 409 delivery_erased, in the API and in the console.
    for (const [endpoint, delivery] of [
      [a.id, stored.a[0]!],
      [a.id, stored.a[1]!],
      [f.id, stored.f[0]!],
      [d.id, stored.d[0]!],
      [b.id, stored.b.find((x) => x.type === 'contact.erased')!],
    ] as const) {
      const retry = await call('POST', `/${endpoint}/deliveries/${delivery.id}/retry`, {});
      expect(retry.status, `${delivery.type} at ${endpoint}`).toBe(409);
      expect(retry.body.error.code).toBe('delivery_erased');
    }
    const cookie = await consoleCookie(t.url);
    const page = await (await fetch(`${t.url}/admin/webhooks/${a.id}`, { headers: { cookie, accept: 'text/html' } })).text();
    expect(page).toContain('address erased');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    const consoleRetry = await fetch(`${t.url}/admin/webhooks/${a.id}/deliveries/${stored.a[0]!.id}/retry`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
      redirect: 'manual',
    });
    expect(consoleRetry.status).toBe(409);

    // F's retry comes due and finds nothing to send; D, enabled again, has nothing of Ada's either.
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue('webhooks', { connection, prefix: t.config.queuePrefix });
    try {
      await waitFor(async () => (await queue.getJob(fConfirmation!.id)) === undefined, 10_000, "F's retry of the erased delivery to run");
    } finally {
      await queue.close();
      connection.disconnect();
    }
    fDown = false;
    expect((await call('PATCH', `/${d.id}`, { enabled: true })).status).toBe(200);
    expect((await postJson(`${t.url}/admin/api/suppressions`, { email: 'canary@example.com', reason: 'manual' }, ADMIN_AUTH)).status).toBe(
      201,
    );
    await waitFor(
      () => mentions(f.receiver, 'canary@example.com').length === 1 && mentions(d.receiver, 'canary@example.com').length === 1,
      5000,
      'the canary at F and D',
    );
    expect(mentions(f.receiver, ADA)).toHaveLength(1);
    expect(mentions(d.receiver, ADA)).toHaveLength(0);
  });
});
