import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcastApi, progressOf } from '../support/broadcasts.js';
import { canary } from '../support/canary.js';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';

/**
 * Whole domains blocked (issue 23): `{"domain":"spam.example"}` blocks every address there,
 * `*.spam.example` its subdomains too. The gate refuses them like an address entry: a signup
 * answers 202 and sends nothing, confirmed subscribers get nothing more, a broadcast drops them,
 * `mailable` says `suppressed`.
 */
let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${t.url}/admin/api${path}`, { ...init, headers: { ...ADMIN_AUTH, ...init.headers } });
const block = (body: object) => postJson(`${t.url}/admin/api/suppressions`, body, ADMIN_AUTH);

async function confirmed(email: string): Promise<void> {
  expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'confirmation');
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  await waitFor(() => t.smtp.to(email)[1], 5000, 'welcome');
}

describe('domain blocks', () => {
  it('answer 201 with the domain; a repeat names the same entry; an invalid domain answers 400 naming the field', async () => {
    const res = await block({ domain: 'Spam.Example', reason: 'manual' });
    expect(res.status).toBe(201);
    const item = (await res.json()) as { id: number; domain: string; email: string | null; reason: string; list: string | null };
    expect(item).toMatchObject({ domain: 'spam.example', email: null, reason: 'manual', list: null });
    expect(((await (await block({ domain: 'spam.example' })).json()) as { id: number }).id).toBe(item.id);
    for (const domain of ['nodot', 'spam..example', '*.', '-bad.example', 'x.123', 'a b.example']) {
      const bad = await block({ domain });
      expect(bad.status, domain).toBe(400);
      expect(((await bad.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'invalid_domain',
        message: expect.stringContaining('"domain"'),
      });
    }
  });

  it('refuse a signup there silently (202, nothing sent), in any spelling, with the wildcard covering subdomains', async () => {
    expect((await block({ domain: '*.wild.example' })).status).toBe(201);
    const blocked = ['ann@spam.example', 'Bob@SPAM.example', 'cy@wild.example', 'dee@mx.eu.wild.example'];
    for (const email of blocked) expect((await postJson(`${t.url}/subscribe`, { email })).status, email).toBe(202);
    // Not covered: a subdomain of a domain blocked without the wildcard, and a domain that only ends alike.
    for (const email of ['eve@sub.spam.example', 'fay@nospam.example']) {
      expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
      await waitFor(() => t.smtp.to(email)[0], 5000, `confirmation to ${email}`);
    }
    await canary(t);
    for (const email of blocked) expect(t.smtp.to(email), email).toEqual([]);
  });

  it('stop confirmed subscribers at the domain, drop them from a broadcast, and answer suppressed in mailable', async () => {
    await confirmed('gus@later.example');
    await confirmed('hal@fine.example');
    expect((await block({ domain: 'later.example' })).status).toBe(201);

    const mailable = await postJson(
      `${t.url}/admin/api/lists/default/mailable`,
      { emails: ['gus@later.example', 'hal@fine.example'] },
      ADMIN_AUTH,
    );
    expect(await mailable.json()).toEqual({
      mailable: ['hal@fine.example'],
      notMailable: [{ email: 'gus@later.example', reason: 'suppressed' }],
    });

    const created = await broadcastApi(t.url, '', { list: 'default', subject: 'News', body: 'Hello', format: 'markdown' });
    expect(created.status).toBe(201);
    expect((await broadcastApi(t.url, `/${created.body.id}/send`)).status).toBe(200);
    await waitFor(async () => (await progressOf(t.url, created.body.id)).status === 'sent', 15_000, 'the broadcast to end');
    const progress = await progressOf(t.url, created.body.id);
    expect(progress.dropped).toBeGreaterThanOrEqual(1);
    expect(t.smtp.to('hal@fine.example').some((m) => m.parsed.subject === 'News')).toBe(true);
    expect(t.smtp.to('gus@later.example').some((m) => m.parsed.subject === 'News')).toBe(false);
  });

  it('are listed with a filter, kept in the CSV export, and lifted like an address entry', async () => {
    const { id } = (await (await block({ domain: 'lift.example' })).json()) as { id: number };
    const domains = (await (await api('/suppressions?kind=domain&limit=100')).json()) as { items: { id: number; domain?: string }[] };
    expect(domains.items.every((i) => i.domain !== undefined)).toBe(true);
    expect(domains.items.map((i) => i.domain)).toEqual(expect.arrayContaining(['lift.example', '*.wild.example', 'spam.example']));
    const addresses = (await (await api('/suppressions?kind=address&limit=100')).json()) as { items: { domain?: string }[] };
    expect(addresses.items.every((i) => i.domain === undefined)).toBe(true);
    expect((await (await api('/suppressions?q=lift.example')).json()) as { items: { id: number }[] }).toMatchObject({ items: [{ id }] });

    const csv = await (await api('/suppressions.csv')).text();
    expect(csv).toMatch(/\r\n,manual,,\d{4}-[^,]+,\*\.wild\.example\r\n/);

    expect((await postJson(`${t.url}/subscribe`, { email: 'ivy@lift.example' })).status).toBe(202);
    expect((await api(`/suppressions/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await postJson(`${t.url}/subscribe`, { email: 'jay@lift.example' })).status).toBe(202);
    await waitFor(() => t.smtp.to('jay@lift.example')[0], 5000, 'a confirmation once lifted');
  });
});
