import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/http.js';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service.js';

/** Three failed attempts per address; the proxy in front (the test itself) says which address. */
const env = { ADMIN_AUTH_FAILURES_PER_15M: '3', TRUST_PROXY: '127.0.0.1' };

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'], env });
  // Until Redis answers, each process counts in memory alone (see the last test).
  await waitFor(() => t.service.queue.redis.status === 'ready', 5000, 'Redis connection');
});
afterAll(async () => {
  await t?.stop();
});

const bearer = (url: string, ip: string, token: string) =>
  fetch(`${url}/admin/api/suppressions`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': ip } });
const signIn = (ip: string, token: string) =>
  fetch(`${t.url}/admin/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', 'x-forwarded-for': ip },
    body: new URLSearchParams({ token }).toString(),
    redirect: 'manual',
  });
const wrong = (n: number) => `wrong-token-${n}-0123456789`;

function expectRetryAfter(res: Response): void {
  const seconds = Number(res.headers.get('retry-after'));
  expect(seconds).toBeGreaterThan(0);
  expect(seconds).toBeLessThanOrEqual(15 * 60);
}

describe('failed admin authentication is limited per client address', () => {
  it('refuses an address after too many wrong bearer tokens, even with the right one; other addresses go on', async () => {
    const guesser = '203.0.113.10';
    for (let n = 0; n < 3; n += 1) expect((await bearer(t.url, guesser, wrong(n))).status).toBe(401);
    const refused = await bearer(t.url, guesser, wrong(3));
    expect(refused.status).toBe(429);
    expectRetryAfter(refused);
    expect(await refused.json()).toEqual({ error: { code: 'too_many_attempts', message: expect.any(String) } });
    // The right token too: answering it would tell the guesser which guess was right.
    expect((await bearer(t.url, guesser, TEST_ADMIN_TOKEN)).status).toBe(429);

    expect((await bearer(t.url, '198.51.100.20', TEST_ADMIN_TOKEN)).status).toBe(200);
  });

  it('counts only failures: the right token, however often, uses none of the allowance', async () => {
    const admin = '198.51.100.30';
    for (let n = 0; n < 10; n += 1) expect((await bearer(t.url, admin, TEST_ADMIN_TOKEN)).status).toBe(200);
    for (let n = 0; n < 3; n += 1) expect((await bearer(t.url, admin, wrong(n))).status).toBe(401);
    expect((await bearer(t.url, admin, TEST_ADMIN_TOKEN)).status).toBe(429);
  });

  it('counts console sign-ins with bearer guesses, and refuses with an error page', async () => {
    const guesser = '203.0.113.40';
    expect((await signIn(guesser, wrong(0))).status).toBe(401);
    expect((await signIn(guesser, wrong(1))).status).toBe(401);
    expect((await bearer(t.url, guesser, wrong(2))).status).toBe(401);
    const refused = await signIn(guesser, TEST_ADMIN_TOKEN);
    expect(refused.status).toBe(429);
    expectRetryAfter(refused);
    expect(refused.headers.get('content-type')).toMatch(/^text\/html/);
    expect(refused.headers.get('set-cookie')).toBeNull();
    expect(await refused.text()).toContain('too_many_attempts');

    const other = await signIn('198.51.100.40', TEST_ADMIN_TOKEN);
    expect(other.status).toBe(303);
    expect(other.headers.get('set-cookie')).toMatch(/^optin_admin=/);
  });

  it('keeps the count in Redis, so every process of the deployment refuses the address', async () => {
    const guesser = '203.0.113.50';
    for (let n = 0; n < 3; n += 1) expect((await bearer(t.url, guesser, wrong(n))).status).toBe(401);
    const beside = await startTestService({
      roles: ['api'],
      sink: t.smtp,
      dataDir: path.dirname(t.config.databasePath),
      env: { ...env, QUEUE_PREFIX: t.config.queuePrefix },
    });
    try {
      await waitFor(() => beside.service.queue.redis.status === 'ready', 5000, 'Redis connection');
      expect((await bearer(beside.url, guesser, wrong(3))).status).toBe(429);
      expect((await bearer(beside.url, '198.51.100.50', TEST_ADMIN_TOKEN)).status).toBe(200);
    } finally {
      await beside.stop();
    }
  });
});
