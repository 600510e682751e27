import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signGenericPayload } from '../../src/features/bounces/generic.js';
import { broadcastApi, progressOf } from '../support/broadcasts.js';
import { linkIn, postForm, postJson, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

/*
 * Each suppression reason is a fact of its own (issue 25, item 1): an admin block, a complaint or
 * a hard bounce landing on an address the person had unsubscribed is kept beside their opt-out,
 * told (consent event, `contact.suppressed` webhook), and never lifted by what undoes the
 * person's own opt-out (the preference centre, resubscribe). Driven over HTTP, with a real SMTP
 * server and a real webhook receiver.
 */

const PROVIDER_SECRET = 'provider-webhook-secret-0123456789';
/** Addresses the SMTP server refuses at RCPT TO (550 5.1.1), from the moment they are added. */
const refused = new Set<string>();

let t: TestService;
let receiver: WebhookReceiver;
beforeAll(async () => {
  t = await startTestService({
    env: { WEBHOOK_SECRET: PROVIDER_SECRET, WEBHOOK_BACKOFF_MS: '20', WEBHOOK_RELAY_INTERVAL_MS: '100', BROADCAST_RATE_PER_MINUTE: '0' },
    smtp: { onRcpt: (address) => (refused.has(address.toLowerCase()) ? { code: 550, message: '5.1.1 No such user here' } : undefined) },
  });
  const list = await postJson(`${t.url}/admin/api/lists`, { slug: 'facts', name: 'Facts', public: true, goodbyeEmail: true }, ADMIN_AUTH);
  expect(list.status).toBe(201);
  receiver = await startWebhookReceiver();
  const endpoint = await postJson(
    `${t.url}/admin/api/webhook-endpoints`,
    { url: receiver.url, events: ['contact.suppressed', 'subscription.unsubscribed', 'subscription.confirmed'] },
    ADMIN_AUTH,
  );
  expect(endpoint.status).toBe(201);
  receiver.secret = ((await endpoint.json()) as { secret: string }).secret;
});
afterAll(async () => {
  await t?.stop();
  await receiver?.close();
});

/** A link from a mail, pointed at the test service (mail links carry PUBLIC_URL). */
const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

function preferencesLink(mail: ReceivedMail): string {
  const match = /https?:\/\/\S+\/preferences\?token=[A-Za-z0-9_.-]+/.exec(mail.parsed.text ?? '');
  if (!match) throw new Error('no preferences link');
  return local(match[0]);
}

/** Posts the preference form with these lists ticked. */
const tick = (link: string, ...slugs: string[]) =>
  fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams(slugs.map((slug) => ['lists', slug])).toString(),
  });

/** Signs up and confirms through the public routes; returns the welcome mail. */
async function subscriber(email: string): Promise<ReceivedMail> {
  const before = t.smtp.to(email).length;
  expect((await postJson(`${t.url}/subscribe`, { email, list: 'facts' })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[before], 5000, `the confirmation to ${email}`);
  const token = new URL(linkIn(confirmation, 'confirm')).searchParams.get('token')!;
  expect((await postForm(`${t.url}/confirm`, { token })).status).toBe(200);
  return waitFor(() => t.smtp.to(email)[before + 1], 5000, `the welcome to ${email}`);
}

interface ContactRecord {
  subscriptions: { list: string; status: string }[];
  consent: { action: string; list: string | null; detail: string | null }[];
  suppressions: { reason: string; list: string | null; source: string }[];
}
const record = async (email: string) =>
  (await (await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { headers: ADMIN_AUTH })).json()) as ContactRecord;
const entriesOf = async (email: string) =>
  (
    (await (await fetch(`${t.url}/admin/api/suppressions?q=${encodeURIComponent(email)}`, { headers: ADMIN_AUTH })).json()) as {
      items: { id: number; reason: string; list: string | null; source: string }[];
    }
  ).items;
const reasonsOf = async (email: string) => (await entriesOf(email)).map((e) => e.reason).sort();
const statusOf = async (email: string) => (await record(email)).subscriptions.find((s) => s.list === 'facts')?.status;

/** The `contact.suppressed` webhook of this address and reason, once it reached the receiver. */
const suppressedHook = (email: string, reason: string) =>
  waitFor(
    () => receiver.accepted().find((e) => e.type === 'contact.suppressed' && e.data.email === email && e.data.reason === reason),
    10_000,
    `contact.suppressed (${reason}) for ${email}`,
  );

/** Sends a broadcast to `facts` and waits until it is sent; returns the mails it produced. */
async function broadcastToFacts(subject: string): Promise<ReceivedMail[]> {
  const created = await broadcastApi(t.url, '', { list: 'facts', subject, body: 'Hello', format: 'markdown' });
  expect(created.status).toBe(201);
  const id = created.body.id as number;
  expect((await broadcastApi(t.url, `/${id}/send`)).status).toBe(200);
  await waitFor(async () => (await progressOf(t.url, id)).status === 'sent', 20_000, 'the broadcast to be sent');
  return t.smtp.messages.filter((m) => m.parsed.messageId?.startsWith(`<bc${id}-`));
}

describe('each suppression reason is its own fact', () => {
  it('an admin block on an address unsubscribed from everything is its own entry; the preference centre and resubscribe cannot lift it; a broadcast skips it', async () => {
    const email = 'blocked.after.optout@example.com';
    const canary = 'canary.reader@example.com';
    const welcome = await subscriber(email);
    await subscriber(canary);
    expect((await postForm(local(linkIn(welcome, 'unsubscribe')), { scope: 'all' })).status).toBe(200);

    const block = await postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH);
    expect(block.status).toBe(201);
    expect(await block.json()).toMatchObject({ email, reason: 'manual', list: null, source: 'admin' });
    expect(await reasonsOf(email)).toEqual(['manual', 'unsubscribed']);
    // Told like every new fact: its consent event and its webhook.
    expect((await record(email)).consent.filter((e) => e.action === 'suppressed').map((e) => e.detail)).toEqual(['manual (admin)']);
    expect((await suppressedHook(email, 'manual')).data).toMatchObject({ email, list: null, reason: 'manual' });
    // The same block again is the same entry.
    expect(await (await postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH)).json()).toMatchObject({
      reason: 'manual',
    });
    expect(await reasonsOf(email)).toEqual(['manual', 'unsubscribed']);
    // The export names both facts.
    const csv = await (await fetch(`${t.url}/admin/api/suppressions.csv`, { headers: ADMIN_AUTH })).text();
    expect(
      csv
        .split('\n')
        .filter((line) => line.startsWith(`${email},`))
        .map((line) => line.split(',')[1])
        .sort(),
    ).toEqual(['manual', 'unsubscribed']);

    // The person ticks the list again: their own opt-out would give way, the block does not.
    const prefs = preferencesLink(welcome);
    const saved = await tick(prefs, 'facts');
    expect(saved.status).toBe(200);
    expect(await saved.text()).toContain('Not changed');
    expect(await statusOf(email)).toBe('unsubscribed');
    expect(await reasonsOf(email)).toEqual(['manual', 'unsubscribed']);
    const undo = await postJson(`${t.url}/resubscribe?token=${new URL(linkIn(welcome, 'unsubscribe')).searchParams.get('token')}`, {});
    expect(undo.status).toBe(409);
    expect(((await undo.json()) as { error: { code: string } }).error.code).toBe('address_blocked');
    expect(await reasonsOf(email)).toEqual(['manual', 'unsubscribed']);

    // The next broadcast reaches the canary and not the blocked address.
    const mails = await broadcastToFacts('After the block');
    expect(mails.some((m) => m.envelopeTo.includes(canary))).toBe(true);
    expect(mails.some((m) => m.envelopeTo.includes(email))).toBe(false);

    // Once the admin lifts the block, the person's own opt-out is theirs to undo again.
    const manual = (await entriesOf(email)).find((e) => e.reason === 'manual')!;
    expect(
      (await fetch(`${t.url}/admin/api/suppressions/${manual.id}?reason=asked`, { method: 'DELETE', headers: ADMIN_AUTH })).status,
    ).toBe(204);
    expect((await tick(prefs, 'facts')).status).toBe(200);
    expect(await statusOf(email)).toBe('confirmed');
    // Their opt-out of every list gave way to one per list they did not tick.
    expect((await entriesOf(email)).map((e) => [e.reason, e.list])).toEqual([['unsubscribed', 'default']]);
  });

  it('a complaint through /webhooks/generic on an unsubscribed address is kept beside the opt-out, told, and never lifted by the person', async () => {
    const email = 'complains.later@example.com';
    const welcome = await subscriber(email);
    expect((await postForm(local(linkIn(welcome, 'unsubscribe')), { scope: 'all' })).status).toBe(200);

    const raw = JSON.stringify({ events: [{ id: 'complaint-after-optout', type: 'complaint', email, reason: 'abuse report' }] });
    const complaint = await fetch(`${t.url}/webhooks/generic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-optin-signature': signGenericPayload(PROVIDER_SECRET, raw) },
      body: raw,
    });
    expect(complaint.status).toBe(200);
    expect(await reasonsOf(email)).toEqual(['complained', 'unsubscribed']);
    const suppressed = (await record(email)).consent.filter((e) => e.action === 'suppressed');
    expect(suppressed.map((e) => e.detail)).toEqual(['complained (generic): abuse report']);
    expect((await suppressedHook(email, 'complained')).data).toMatchObject({ email, list: null, reason: 'complained' });

    expect((await tick(preferencesLink(welcome), 'facts')).status).toBe(200);
    expect(await statusOf(email)).toBe('unsubscribed');
    const undo = await postJson(`${t.url}/resubscribe?token=${new URL(linkIn(welcome, 'unsubscribe')).searchParams.get('token')}`, {});
    expect(undo.status).toBe(409);
    expect(await statusOf(email)).toBe('unsubscribed');
    // Nothing changed: the 409 undoes the whole request.
    expect(await reasonsOf(email)).toEqual(['complained', 'unsubscribed']);
  });

  it('a hard bounce of the goodbye mail is kept beside the opt-out, told, and never lifted by the preference centre', async () => {
    const email = 'bounces.goodbye@example.com';
    const welcome = await subscriber(email);
    // From now on the mailbox is gone: the goodbye mail of the opt-out below is refused with 550.
    refused.add(email);
    expect((await postForm(local(linkIn(welcome, 'unsubscribe')), { scope: 'all' })).status).toBe(200);

    expect((await suppressedHook(email, 'bounced')).data).toMatchObject({ email, list: null, reason: 'bounced' });
    expect(await reasonsOf(email)).toEqual(['bounced', 'unsubscribed']);
    const suppressed = (await record(email)).consent.filter((e) => e.action === 'suppressed');
    expect(suppressed).toHaveLength(1);
    expect(suppressed[0]!.detail).toMatch(/^bounced: /);
    expect(t.smtp.to(email)).toHaveLength(2);

    const saved = await tick(preferencesLink(welcome), 'facts');
    expect(saved.status).toBe(200);
    expect(await statusOf(email)).toBe('unsubscribed');
    expect(await reasonsOf(email)).toEqual(['bounced', 'unsubscribed']);
  });
});
