import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcastApi, progressOf, seedConfirmedList } from '../support/broadcasts.js';
import { postJson, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

let t: TestService;
let receiver: WebhookReceiver;
beforeAll(async () => {
  // Paced slowly, so a broadcast is still sending when it is paused.
  t = await startTestService({ env: { BROADCAST_RATE_PER_MINUTE: '60', WEBHOOK_RELAY_INTERVAL_MS: '100' } });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await t?.stop();
  await receiver?.close();
});

/** What `fetch(url, {method: 'POST'})` sends: Content-Length: 0, no Content-Type. */
const emptyPost = (path: string) =>
  fetch(`${t.url}/admin/api${path}`, { method: 'POST', headers: { ...ADMIN_AUTH, accept: 'application/json' } });

describe('admin action routes that take no body accept an empty one', () => {
  it('broadcast send, pause, resume and cancel', async () => {
    await seedConfirmedList(t.service.database, 'empty-bodies', 5);
    const draft = await broadcastApi(t.url, '', { list: 'empty-bodies', subject: 'Hi', body: 'Hi', format: 'markdown' });
    expect(draft.status).toBe(201);
    const id = draft.body.id as number;
    for (const [action, status] of [
      ['send', 'sending'],
      ['pause', 'paused'],
      ['resume', 'sending'],
      ['cancel', 'cancelled'],
    ] as const) {
      const res = await emptyPost(`/broadcasts/${id}/${action}`);
      expect(res.status, action).toBe(200);
      expect(((await res.json()) as { status: string }).status, action).toBe(status);
    }
    expect((await progressOf(t.url, id)).status).toBe('cancelled');
  });

  it('webhook "send again"', async () => {
    const created = await postJson(
      `${t.url}/admin/api/webhook-endpoints`,
      { url: receiver.url, events: ['contact.suppressed'] },
      ADMIN_AUTH,
    );
    const { id, secret } = (await created.json()) as { id: string; secret: string };
    receiver.secret = secret;
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'empty-body@example.com', reason: 'manual' }, ADMIN_AUTH)).status,
    ).toBe(201);
    const delivery = await waitFor(
      async () => {
        const res = await fetch(`${t.url}/admin/api/webhook-endpoints/${id}/deliveries`, { headers: ADMIN_AUTH });
        const { items } = (await res.json()) as { items: { id: string; status: string }[] };
        return items.find((item) => item.status === 'delivered');
      },
      5000,
      'the delivery',
    );
    const res = await emptyPost(`/webhook-endpoints/${id}/deliveries/${delivery.id}/retry`);
    expect(res.status).toBe(202);
    await waitFor(() => receiver.received.filter((r) => r.id === delivery.id).length === 2, 5000, 'the delivery sent again');
  });

  it('still refuses a body of another type where a body is read', async () => {
    const res = await fetch(`${t.url}/admin/api/suppressions`, {
      method: 'POST',
      headers: { ...ADMIN_AUTH, 'content-type': 'text/plain', accept: 'application/json' },
      body: 'email=x@example.com',
    });
    expect(res.status).toBe(415);
  });
});
