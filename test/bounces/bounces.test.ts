import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSuppression } from '../../src/features/policy/suppressions.js';
import { signGenericPayload } from '../../src/features/bounces/generic.js';
import { outboxDecided } from '../support/canary.js';
import { postJson, waitFor } from '../support/http.js';
import { startTestService, TEST_SECRET, type TestService } from '../support/service.js';

const WEBHOOK_SECRET = 'webhook-secret-0123456789';
const MAILGUN_KEY = 'key-mailgun-signing-0123456789';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ env: { WEBHOOK_SECRET, MAILGUN_SIGNING_KEY: MAILGUN_KEY } });
});
afterAll(async () => {
  await t?.stop();
});

function postGeneric(body: unknown, signature?: string) {
  const raw = JSON.stringify(body);
  return fetch(`${t.url}/webhooks/generic`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-optin-signature': signature ?? signGenericPayload(WEBHOOK_SECRET, raw) },
    body: raw,
  });
}

function mailgunBody(event: Record<string, unknown>, key = MAILGUN_KEY, timestamp = String(Math.floor(Date.now() / 1000))) {
  const token = `token-${Math.random().toString(36).slice(2)}`;
  const signature = createHmac('sha256', key)
    .update(timestamp + token)
    .digest('hex');
  return { signature: { timestamp, token, signature }, 'event-data': event };
}

const postMailgun = (body: unknown) => postJson(`${t.url}/webhooks/mailgun`, body);
const suppressionOf = (email: string) => findSuppression(t.service.database, [TEST_SECRET], email, null);
const tableSizes = async () => {
  const { db, tables } = t.service.database;
  return {
    suppressions: (await db.select().from(tables.suppressions)).length,
    consent: (await db.select().from(tables.consentEvents)).length,
    events: (await db.select().from(tables.webhookEvents)).length,
  };
};

describe('generic webhook (HMAC-signed JSON)', () => {
  it('suppresses a hard bounce; a later signup of that address is not mailed', async () => {
    await postJson(`${t.url}/subscribe`, { email: 'Hard.Bounce@example.com' });
    await waitFor(() => t.smtp.to('Hard.Bounce@example.com')[0]);
    const res = await postGeneric({
      events: [{ id: 'evt-1', type: 'hard_bounce', email: 'hard.bounce@EXAMPLE.com', reason: '550 5.1.1 user unknown' }],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', applied: 1, duplicates: 0 });
    expect((await suppressionOf('hard.bounce@example.com'))?.reason).toBe('bounced');

    await postJson(`${t.url}/subscribe`, { email: 'hard.bounce@example.com' });
    // No canary: the metrics test below counts every signup and send of this service. A suppressed
    // signup writes no outbox row, so once every row is decided nothing more can be sent.
    await outboxDecided(t.service.database);
    expect(t.smtp.to('hard.bounce@example.com')).toHaveLength(1);
  });

  it('suppresses a complaint, ignores a soft bounce, and a replay changes nothing', async () => {
    const body = {
      events: [
        { id: 'evt-2', type: 'complaint', email: 'grumpy@example.com' },
        { id: 'evt-3', type: 'soft_bounce', email: 'mailbox-full@example.com' },
      ],
    };
    expect(await (await postGeneric(body)).json()).toEqual({ status: 'ok', applied: 2, duplicates: 0 });
    expect((await suppressionOf('grumpy@example.com'))?.reason).toBe('complained');
    expect(await suppressionOf('mailbox-full@example.com')).toBeUndefined();

    const before = await tableSizes();
    const replay = await postGeneric(body);
    expect(await replay.json()).toEqual({ status: 'ok', applied: 0, duplicates: 2 });
    expect(await tableSizes()).toEqual(before);
  });

  it('answers 401 to a bad, missing or stale signature and changes nothing', async () => {
    const body = { events: [{ id: 'evt-forged', type: 'hard_bounce', email: 'victim@example.com' }] };
    const before = await tableSizes();
    const stale = signGenericPayload(WEBHOOK_SECRET, JSON.stringify(body), Date.now() - 3600_000);
    for (const signature of [signGenericPayload('another-secret-0123456789', JSON.stringify(body)), '', 't=1,v1=00', stale]) {
      const res = await postGeneric(body, signature);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: 'invalid_signature', message: expect.any(String) } });
    }
    // A valid signature over different bytes does not carry over.
    const signedOther = signGenericPayload(WEBHOOK_SECRET, JSON.stringify({ events: [] }));
    expect((await postGeneric(body, signedOther)).status).toBe(401);
    expect(await tableSizes()).toEqual(before);
    expect(await suppressionOf('victim@example.com')).toBeUndefined();
  });

  it('answers 400 to a signed body in the wrong shape, and 404 to an unknown provider', async () => {
    expect((await postGeneric({ nope: true })).status).toBe(400);
    const unknown = await postJson(`${t.url}/webhooks/postmark`, {});
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_provider');
    const huge = await postJson(`${t.url}/webhooks/generic`, 'x'.repeat(1024 * 1024 + 1));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toEqual({ error: { code: 'payload_too_large', message: 'The webhook body is larger than 1mb.' } });
  });
});

describe('Mailgun webhook', () => {
  it('suppresses a permanent failure and a complaint, verified with the signing key', async () => {
    const failed = mailgunBody({
      id: 'mg-1',
      event: 'failed',
      severity: 'permanent',
      recipient: 'gone@example.com',
      reason: 'bounce',
      'delivery-status': { code: 550, message: 'No such user' },
    });
    const res = await postMailgun(failed);
    expect(res.status).toBe(200);
    expect((await suppressionOf('gone@example.com'))?.reason).toBe('bounced');
    const complained = mailgunBody({ id: 'mg-2', event: 'complained', recipient: 'spam-button@example.com' });
    expect((await postMailgun(complained)).status).toBe(200);
    expect((await suppressionOf('spam-button@example.com'))?.reason).toBe('complained');
    // A temporary failure is not a bounce.
    await postMailgun(mailgunBody({ id: 'mg-3', event: 'failed', severity: 'temporary', recipient: 'later@example.com' }));
    expect(await suppressionOf('later@example.com')).toBeUndefined();

    const before = await tableSizes();
    expect(await (await postMailgun(failed)).json()).toEqual({ status: 'ok', applied: 0, duplicates: 1 });
    expect(await tableSizes()).toEqual(before);
  });

  it('answers 401 to a wrong key, a tampered token or a stale timestamp and changes nothing', async () => {
    const event = { id: 'mg-forged', event: 'failed', severity: 'permanent', recipient: 'target@example.com' };
    const tampered = mailgunBody(event);
    tampered.signature.token += 'x';
    const before = await tableSizes();
    for (const body of [
      mailgunBody(event, 'key-wrong-0123456789'),
      tampered,
      mailgunBody(event, MAILGUN_KEY, String(Math.floor(Date.now() / 1000) - 3600)),
      { 'event-data': event },
    ]) {
      const res = await postMailgun(body);
      expect(res.status).toBe(401);
    }
    expect(await tableSizes()).toEqual(before);
    expect(await suppressionOf('target@example.com')).toBeUndefined();
  });
});

describe('observability', () => {
  it('exports Prometheus metrics', async () => {
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^optin_signups_total 2$/m);
    expect(text).toMatch(/^optin_sends_total\{outcome="sent"\} 1$/m);
    expect(text).toMatch(/^optin_webhook_events_total\{provider="generic",type="complaint"\} 1$/m);
    expect(text).toMatch(/^optin_webhook_events_total\{provider="mailgun",type="hard_bounce"\} 1$/m);
    expect(text).toMatch(/^optin_outbox_messages\{status="queued"\} \d+$/m);
    expect(text).toMatch(/^optin_queue_jobs\{state="waiting"\} \d+$/m);
    expect(text).toMatch(/^optin_send_duration_seconds_bucket\{le="[^"]+",outcome="sent"\} \d+$/m);
    expect(text).toContain('optin_confirmations_total 0');
    expect(text).toContain('optin_unsubscribes_total 0');
  });

  it('gives every request an id, echoing a sane one from the caller', async () => {
    const own = await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(own.headers.get('x-request-id')).toBe('trace-abc.123');
    const made = await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

// After the metrics test, whose counts these events would change.
describe('addresses in webhook events', () => {
  it('reads a display-name address; answers 400 naming an unreadable event, applies nothing and does not mark it used', async () => {
    const named = await postGeneric({ events: [{ id: 'evt-named', type: 'hard_bounce', email: 'Kim Doe <Kim@Example.com>' }] });
    expect(await named.json()).toEqual({ status: 'ok', applied: 1, duplicates: 0 });
    expect((await suppressionOf('kim@example.com'))?.reason).toBe('bounced');

    const before = await tableSizes();
    const batch = (lou: string) => ({
      events: [
        { id: 'evt-before-bad', type: 'complaint', email: 'lee@example.com' },
        { id: 'evt-trailing-dot', type: 'hard_bounce', email: lou },
      ],
    });
    for (const unreadable of ['lou@example.com.', '"Lou" <lou@example.com>, other@example.com', 'not an address']) {
      const res = await postGeneric(batch(unreadable));
      expect(res.status).toBe(400);
      const body = await res.json();
      expect(body).toEqual({ error: { code: 'invalid_email', message: expect.stringContaining('evt-trailing-dot') } });
      expect(await tableSizes()).toEqual(before);
    }
    expect(await suppressionOf('lee@example.com')).toBeUndefined();
    // The provider's retry, once the address reads, is applied: neither event was marked used.
    expect(await (await postGeneric(batch('lou@example.com'))).json()).toEqual({ status: 'ok', applied: 2, duplicates: 0 });
    expect((await suppressionOf('lou@example.com'))?.reason).toBe('bounced');
    expect((await suppressionOf('lee@example.com'))?.reason).toBe('complained');
  });

  it('reads a Mailgun recipient with a display name and refuses one it cannot read', async () => {
    const named = mailgunBody({ id: 'mg-named', event: 'complained', recipient: '"Doe, Kim" <kim.doe@example.com>' });
    expect(await (await postMailgun(named)).json()).toEqual({ status: 'ok', applied: 1, duplicates: 0 });
    expect((await suppressionOf('kim.doe@example.com'))?.reason).toBe('complained');
    const before = await tableSizes();
    const unreadable = await postMailgun(
      mailgunBody({ id: 'mg-dot', event: 'failed', severity: 'permanent', recipient: 'kim.doe@example.org.' }),
    );
    expect(unreadable.status).toBe(400);
    expect(await unreadable.json()).toEqual({ error: { code: 'invalid_email', message: expect.stringContaining('mg-dot') } });
    expect(await tableSizes()).toEqual(before);
  });
});

describe('Mailgun signature tokens', () => {
  it('refuses a signature block posted again with other event data, and answers the same request again as a duplicate', async () => {
    const first = mailgunBody({ id: 'mg-token-1', event: 'failed', severity: 'temporary', recipient: 'slow@example.com' });
    expect(await (await postMailgun(first)).json()).toEqual({ status: 'ok', applied: 1, duplicates: 0 });

    const before = await tableSizes();
    const forged = {
      signature: first.signature,
      'event-data': { id: 'mg-token-2', event: 'failed', severity: 'permanent', recipient: 'someone.else@example.com' },
    };
    const res = await postMailgun(forged);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'signature_reused', message: expect.any(String) } });
    expect(await suppressionOf('someone.else@example.com')).toBeUndefined();
    expect(await tableSizes()).toEqual(before);

    expect(await (await postMailgun(first)).json()).toEqual({ status: 'ok', applied: 0, duplicates: 1 });
  });
});
