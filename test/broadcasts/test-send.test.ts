import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcastApi, seedConfirmedList } from '../support/broadcasts.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

/*
 * A broadcast's test copy (issue 25, item 11): it says it is a test, does not tell its reader
 * they "asked and confirmed", and its unsubscribe link works: it suppresses the address it was
 * sent to (today it answered 400 invalid_token).
 */

let t: TestService;
let receiver: WebhookReceiver;
beforeAll(async () => {
  t = await startTestService({ env: { BROADCAST_RATE_PER_MINUTE: '0', WEBHOOK_RELAY_INTERVAL_MS: '100' } });
  receiver = await startWebhookReceiver();
  const endpoint = await postJson(
    `${t.url}/admin/api/webhook-endpoints`,
    { url: receiver.url, events: ['subscription.unsubscribed'] },
    ADMIN_AUTH,
  );
  expect(endpoint.status).toBe(201);
  receiver.secret = ((await endpoint.json()) as { secret: string }).secret;
});
afterAll(async () => {
  await t?.stop();
  await receiver?.close();
});

const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

async function draft(list: string, subject: string): Promise<number> {
  const created = await broadcastApi(t.url, '', {
    list,
    subject: { en: subject, fr: subject },
    body: { en: 'Draft body', fr: 'Corps du brouillon' },
    format: 'markdown',
  });
  expect(created.status).toBe(201);
  return created.body.id as number;
}

async function testCopy(id: number, email: string): Promise<ReceivedMail> {
  const before = t.smtp.to(email).length;
  const res = await broadcastApi(t.url, `/${id}/test`, { email });
  expect(res.status).toBe(200);
  return waitFor(() => t.smtp.to(email)[before], 5000, `the test copy to ${email}`);
}

const entriesOf = async (email: string) =>
  (
    (await (await fetch(`${t.url}/admin/api/suppressions?q=${encodeURIComponent(email)}`, { headers: ADMIN_AUTH })).json()) as {
      items: { reason: string; list: string | null; source: string }[];
    }
  ).items;

describe('a broadcast test copy', () => {
  it('to someone not on the list: says it is a test, claims no consent, and its one-click link suppresses that address', async () => {
    await seedConfirmedList(t.service.database, 'tested', 1);
    const id = await draft('tested', 'Draft news');
    const reviewer = 'reviewer@example.net';
    const mail = await testCopy(id, reviewer);
    expect(mail.parsed.subject).toBe('[TEST] Draft news');
    for (const part of [mail.parsed.text ?? '', mail.parsed.html || '']) {
      expect(part).toContain('This is a test copy');
      expect(part).not.toMatch(/asked to receive|and confirmed it/);
    }

    // The link the header and the body carry works: GET shows the page, the one-click POST opts out.
    const header = mail.header('list-unsubscribe')!.slice(1, -1);
    expect(linkIn(mail, 'unsubscribe')).toBe(header);
    const page = await fetch(local(header), { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('List tested');
    const click = await oneClick(local(header));
    expect(click.status).toBe(200);
    expect(await entriesOf(reviewer)).toMatchObject([{ reason: 'unsubscribed', list: 'tested', source: `test copy of broadcast ${id}` }]);
    const hook = await waitFor(
      () => receiver.accepted().find((e) => e.type === 'subscription.unsubscribed' && e.data.email === reviewer),
      10_000,
      'the unsubscribed webhook',
    );
    expect(hook.data).toMatchObject({ email: reviewer, list: 'tested' });
    // Clicking again changes nothing; and the address is now refused a test like any suppressed one.
    expect((await oneClick(local(header))).status).toBe(200);
    expect(await entriesOf(reviewer)).toHaveLength(1);
    const refused = await broadcastApi(t.url, `/${id}/test`, { email: reviewer });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('address_suppressed');

    // A test copy's link resubscribes nobody, and a forged one is refused.
    expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(header)}`, {})).status).toBe(400);
    const forged = `${tokenOf(header).slice(0, -2)}AA`;
    expect((await oneClick(`${t.url}/unsubscribe?token=${forged}`)).status).toBe(400);
  });

  it('the page’s "every list" button suppresses the address for every list, in French for a French copy', async () => {
    await seedConfirmedList(t.service.database, 'tested-fr', 1);
    const id = await draft('tested-fr', 'Brouillon');
    const reviewer = 'relectrice@example.net';
    // A contact of another list: the test copy names no subscription of theirs on this one.
    expect((await postJson(`${t.url}/subscribe`, { email: reviewer, list: 'tested', locale: 'fr' })).status).toBe(202);
    await waitFor(() => t.smtp.to(reviewer)[0], 5000, 'the confirmation');
    const mail = await testCopy(id, reviewer);
    expect(mail.parsed.text).toContain('Ceci est un exemplaire de test');
    expect((await postForm(local(linkIn(mail, 'unsubscribe')), { scope: 'all' })).status).toBe(200);
    expect((await entriesOf(reviewer)).map((e) => [e.reason, e.list])).toEqual([['unsubscribed', null]]);
    const record = (await (await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(reviewer)}`, { headers: ADMIN_AUTH })).json()) as {
      consent: { action: string; detail: string | null }[];
    };
    expect(record.consent.filter((e) => e.action === 'unsubscribed').map((e) => e.detail)).toEqual([`test copy of broadcast ${id}`]);
  });

  it('to a subscriber of the list: their own link, which unsubscribes them', async () => {
    const { emails } = await seedConfirmedList(t.service.database, 'tested-own', 2);
    const id = await draft('tested-own', 'Own link');
    const mail = await testCopy(id, emails[0]!);
    expect(mail.parsed.text).toContain('This is a test copy');
    expect((await oneClick(local(linkIn(mail, 'unsubscribe')))).status).toBe(200);
    expect((await entriesOf(emails[0]!)).map((e) => [e.reason, e.list, e.source])).toEqual([
      ['unsubscribed', 'tested-own', 'unsubscribe link'],
    ]);
  });
});
