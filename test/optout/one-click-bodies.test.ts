import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

/** Signs up and confirms; gives the one-click URL of the welcome mail's List-Unsubscribe header, on the test server. */
async function confirmedOneClickUrl(email: string): Promise<string> {
  expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, `the confirmation to ${email}`);
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  const welcome = await waitFor(() => t.smtp.to(email)[1], 5000, `the welcome to ${email}`);
  expect(welcome.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
  const link = new URL(/<([^>]+)>/.exec(welcome.header('list-unsubscribe')!)![1]!);
  return `${t.url}${link.pathname}${link.search}`;
}

async function subscriptionStatus(email: string): Promise<string> {
  const res = await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { headers: ADMIN_AUTH });
  const record = (await res.json()) as { subscriptions: { status: string }[] };
  return record.subscriptions[0]!.status;
}

describe('the one-click opt-out works whatever the body', () => {
  const bodies: [string, RequestInit][] = [
    // fetch sends Content-Length: 0 and no type.
    ['no body at all', {}],
    ['text/plain', { headers: { 'content-type': 'text/plain' }, body: 'List-Unsubscribe=One-Click' }],
    ['an unknown type', { headers: { 'content-type': 'application/octet-stream' }, body: '\u0000\u0001' }],
    ['JSON that does not parse', { headers: { 'content-type': 'application/json' }, body: '{"List-Unsubscribe":' }],
    ['a form in a charset not read', { headers: { 'content-type': 'application/x-www-form-urlencoded; charset=latin1' }, body: 'x=1' }],
    [
      'a body over the limit',
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `List-Unsubscribe=One-Click&pad=${'a'.repeat(40_000)}` },
    ],
  ];

  it.each(bodies)('%s: 200, and the subscription is ended', async (what, init) => {
    const email = `one-click-${what.replaceAll(/[^a-z]+/g, '-')}@example.com`;
    const url = await confirmedOneClickUrl(email);
    expect(await subscriptionStatus(email)).toBe('confirmed');
    const res = await fetch(url, { method: 'POST', redirect: 'manual', ...init });
    expect(res.status).toBe(200);
    expect(await subscriptionStatus(email)).toBe('unsubscribed');
  });
});
