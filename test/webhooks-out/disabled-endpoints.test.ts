import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, waitFor } from '../support/http.js';
import { ADMIN_AUTH, consoleCookie, startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

/** 20 ms doubling until the waits reach 250 ms: 5 attempts, the last about 300 ms after the first. */
const HORIZON_MS = 250;
const FAST_RETRIES = { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_RETRY_HORIZON_MS: String(HORIZON_MS), WEBHOOK_RELAY_INTERVAL_MS: '100' };

let t: TestService;
const receivers: WebhookReceiver[] = [];
beforeAll(async () => {
  t = await startTestService({ env: FAST_RETRIES });
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

async function registered(events: string[], answer?: Parameters<typeof startWebhookReceiver>[0], delayMs?: number) {
  const receiver = await startWebhookReceiver(answer, { delayMs });
  receivers.push(receiver);
  const res = await call('POST', '', { url: receiver.url, events });
  expect(res.status).toBe(201);
  receiver.secret = res.body.secret;
  return { receiver, id: res.body.id as string };
}

const suppress = async (email: string) =>
  expect((await postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH)).status).toBe(201);

async function importCsv(emails: string[]) {
  const form = new FormData();
  form.append('file', new Blob([['email', ...emails, ''].join('\r\n')], { type: 'text/csv' }), 'batch.csv');
  const res = await fetch(`${t.url}/admin/api/suppressions/import`, { method: 'POST', body: form, headers: ADMIN_AUTH });
  expect(res.status).toBe(200);
}

const emailsOf = (receiver: WebhookReceiver) => receiver.accepted().map((event) => event.data.email);

describe('a disabled endpoint keeps its events', () => {
  it('collects them while disabled, says how many wait, and sends them in order with their original timestamps once enabled, even past the retry horizon', async () => {
    // Each answer takes a while: deliveries sent side by side would overlap at the receiver.
    const { receiver, id } = await registered(
      ['contact.suppressed'],
      // The oldest event fails twice after the endpoint comes back: a fresh retry schedule, not one counted from the event.
      ({ seenBefore, json }) => (json.data.email === 'held-0@example.com' && seenBefore < 2 ? 500 : 200),
      30,
    );
    // A second endpoint, always on: the canary that every event was made, and the copy of what was told.
    const { receiver: witness } = await registered(['contact.suppressed']);
    expect((await call('PATCH', `/${id}`, { enabled: false })).body).toMatchObject({ enabled: false, waiting: 0 });

    const order = ['held-0@example.com', 'held-1@example.com', 'held-2@example.com'];
    for (const email of order) await suppress(email);
    // A batch in one transaction (the same millisecond): its events keep the file's order.
    const batch = ['held-batch-c@example.com', 'held-batch-a@example.com', 'held-batch-b@example.com', 'held-batch-0@example.com'];
    await importCsv(batch);
    order.push(...batch);
    await suppress('held-last@example.com');
    order.push('held-last@example.com');

    await waitFor(() => witness.accepted().length === order.length, 10_000, 'every event at the enabled endpoint');
    expect(receiver.received).toHaveLength(0);
    expect((await call('GET', `/${id}`)).body).toMatchObject({ enabled: false, waiting: order.length });
    const listed = (await call('GET', '')).body.items.find((e: { id: string }) => e.id === id);
    expect(listed.waiting).toBe(order.length);
    const cookie = await consoleCookie(t.url);
    const page = await (await fetch(`${t.url}/admin/webhooks/${id}`, { headers: { cookie, accept: 'text/html' } })).text();
    expect(page).toContain(`<strong>${order.length} deliveries</strong> held`);

    // The endpoint stays off for longer than the retry horizon: the events are older than it when it comes back.
    const oldest = Date.parse(witness.accepted()[0]!.timestamp);
    await waitFor(() => Date.now() - oldest > 2 * HORIZON_MS, 5000, 'the events to be older than the horizon');
    const enabledAt = Date.now();
    expect((await call('PATCH', `/${id}`, { enabled: true })).status).toBe(200);

    await waitFor(() => receiver.accepted().length === order.length, 10_000, 'the held events');
    expect(emailsOf(receiver)).toEqual(order);
    // One at a time: each arrived after the one before was answered.
    for (let i = 1; i < receiver.received.length; i++)
      expect(receiver.received[i]!.arrivedAt).toBeGreaterThanOrEqual(receiver.received[i - 1]!.answeredAt);
    // The same bodies as the witness got, so the same original `timestamp`, older than the horizon.
    const told = new Map(witness.accepted().map((event) => [event.data.email, event]));
    for (const event of receiver.accepted()) expect(event).toEqual(told.get(event.data.email));
    expect(Date.parse(receiver.accepted()[0]!.timestamp)).toBeLessThan(enabledAt - HORIZON_MS);
    expect(receiver.received.filter((r) => r.json.data.email === 'held-0@example.com').map((r) => r.status)).toEqual([500, 500, 200]);
    expect(receiver.received.every((r) => r.verified)).toBe(true);

    await waitFor(async () => (await call('GET', `/${id}`)).body.waiting === 0, 5000, 'nothing waiting');
    const deliveries = (await call('GET', `/${id}/deliveries`)).body.items as { status: string }[];
    expect(deliveries.map((d) => d.status)).toEqual(order.map(() => 'delivered'));

    // Back to normal: a new event is sent at once.
    await suppress('after-backlog@example.com');
    await waitFor(() => emailsOf(receiver).includes('after-backlog@example.com'), 5000, 'the next event');
  });

  it('holds the delivery whose last failure disabled the endpoint, with those that came after, and sends them all in order once enabled', async () => {
    let down = true;
    const { receiver, id } = await registered(['contact.suppressed'], () => (down ? 503 : 200));
    await suppress('tripped@example.com');
    const disabled = await waitFor(
      async () => {
        const endpoint = (await call('GET', `/${id}`)).body;
        return endpoint.enabled === false && endpoint;
      },
      10_000,
      'the service to disable the endpoint',
    );
    expect(disabled).toMatchObject({ disabledReason: expect.stringMatching(/every delivery has failed.*HTTP 503/), waiting: 1 });
    const attemptsBefore = receiver.received.length;
    expect(attemptsBefore).toBe(5);
    // Not given up: still waiting, with the two that follow while the endpoint is off.
    await suppress('after-trip-1@example.com');
    await suppress('after-trip-2@example.com');
    await waitFor(async () => (await call('GET', `/${id}`)).body.waiting === 3, 5000, 'three waiting');
    const held = (await call('GET', `/${id}/deliveries`)).body.items as { status: string }[];
    expect(held.map((d) => d.status)).toEqual(['queued', 'queued', 'queued']);
    expect(receiver.received).toHaveLength(attemptsBefore);

    down = false;
    expect((await call('PATCH', `/${id}`, { enabled: true })).body).toMatchObject({ enabled: true, disabledReason: null, waiting: 3 });
    await waitFor(() => receiver.accepted().length === 3, 10_000, 'the three held events');
    expect(emailsOf(receiver)).toEqual(['tripped@example.com', 'after-trip-1@example.com', 'after-trip-2@example.com']);
  });
});
