import { lookup } from 'node:dns/promises';
import { createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, waitFor } from '../support/http.js';
import { ADMIN_AUTH, consoleCookie, startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

const PRODUCTION = { NODE_ENV: 'production', PUBLIC_URL: 'https://optin.test' };
const FAST = { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_RETRY_HORIZON_MS: '100000', WEBHOOK_RELAY_INTERVAL_MS: '100' };

const receivers: WebhookReceiver[] = [];
afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
});

async function receiver(answer?: Parameters<typeof startWebhookReceiver>[0], delayMs?: number) {
  const started = await startWebhookReceiver(answer, { delayMs });
  receivers.push(started);
  return started;
}

const endpoints = (t: TestService) => `${t.url}/admin/api/webhook-endpoints`;
const register = (t: TestService, url: string, events = ['contact.suppressed']) => postJson(endpoints(t), { url, events }, ADMIN_AUTH);
const suppress = async (t: TestService, email: string) =>
  expect((await postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH)).status).toBe(201);
const attemptsOf = async (t: TestService, id: string) => {
  const res = await fetch(`${endpoints(t)}/${id}/deliveries`, { headers: ADMIN_AUTH });
  const { items } = (await res.json()) as { items: { attempts: { statusCode: number | null; error: string | null }[] }[] };
  return items.flatMap((item) => item.attempts);
};

/** A port nothing listens on (it did a moment ago): a connection to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('in production, receivers must be on the public internet', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ env: { ...PRODUCTION, ...FAST } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses loopback, private, link-local, CGNAT, unique-local, IPv4-mapped and oddly spelled addresses at registration', async () => {
    const refused = [
      'https://10.0.0.1/',
      'https://172.16.5.4/',
      'https://192.168.1.1/hook',
      'https://127.0.0.1/',
      'https://127.9.9.9:8443/',
      'https://[::1]/',
      'https://localhost/',
      'https://api.localhost/',
      'https://169.254.169.254/latest/meta-data/',
      'https://100.64.0.1/',
      'https://[fd00::1]/',
      'https://[fe80::1]/',
      'https://[::ffff:a9fe:a9fe]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[64:ff9b::a00:1]/',
      'https://0.0.0.0/',
      'https://[::]/',
      // Decimal, hexadecimal, octal and shortened spellings of 127.0.0.1 and 10.0.0.1
      'https://2130706433/',
      'https://0x7f000001/',
      'https://0x7f.1/',
      'https://0177.0.0.1/',
      'https://127.1/',
      'https://167772161/',
      'https://012.0.0.1/',
      'http://127.0.0.1:8080/hook',
      'http://localhost:8080/hook',
    ];
    for (const url of refused) {
      // Listening to erasures only, none of which happens here: even a URL wrongly accepted is never connected to.
      const res = await register(t, url, ['contact.erased']);
      expect(res.status, url).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code, url).toBe('invalid_url');
      expect(error.message, url).toMatch(/public address|https:\/\//);
    }
    // A public name is accepted (it is checked again at every connection); a change of URL is checked too.
    // It listens to erasures only, and none happens here: nothing connects to it.
    const created = await register(t, 'https://hooks.example.com/optin', ['contact.erased']);
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const patch = await fetch(`${endpoints(t)}/${id}`, {
      method: 'PATCH',
      headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://[::ffff:10.0.0.1]/' }),
    });
    expect(patch.status).toBe(400);
    expect(((await patch.json()) as { error: { code: string } }).error.code).toBe('invalid_url');
    // The console's form too.
    const cookie = await consoleCookie(t.url);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(
      await (await fetch(`${t.url}/admin/webhooks`, { headers: { cookie, accept: 'text/html' } })).text(),
    )![1]!;
    const form = await fetch(`${t.url}/admin/webhooks`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ _csrf: csrf, url: 'https://169.254.169.254/', events: 'contact.erased' }).toString(),
    });
    expect(form.status).toBe(400);
    expect((await fetch(`${endpoints(t)}/${id}`, { method: 'DELETE', headers: ADMIN_AUTH })).status).toBe(204);
  });

  it('checks again at every connection: a URL that reaches this machine anyway gets nothing, and the attempt says why without the raw error', async () => {
    const local = await receiver();
    // An endpoint whose URL passed registration but reaches a private address when connecting
    // (a DNS name rebound to 127.0.0.1 does the same): written as registration left it.
    const id = 'ep_rebound00000000000000000000000';
    await t.service.database.transaction(async ({ db, tables: { webhookEndpoints } }) => {
      await db.insert(webhookEndpoints).values({
        id,
        url: local.url.replace('http:', 'https:'),
        events: JSON.stringify(['contact.suppressed']),
        secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        enabled: true,
        createdAt: Date.now(),
      });
    });
    const ids = [id];
    // A name this machine resolves to itself, as DNS rebinding would make a public name do.
    const name = hostname();
    const addresses = await lookup(name, { all: true }).catch(() => []);
    const selfName = addresses.length > 0 && addresses.every((a) => /^127\.|^::1$/.test(a.address));
    if (selfName) {
      const res = await register(t, `https://${name}:${new URL(local.url).port}/hook`);
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    await suppress(t, 'rebound@example.com');
    for (const endpointId of ids) {
      const attempts = await waitFor(
        async () => {
          const made = await attemptsOf(t, endpointId);
          return made.length >= 2 && made;
        },
        5000,
        'two refused attempts',
      );
      for (const attempt of attempts) expect(attempt).toMatchObject({ statusCode: null, error: 'private address refused' });
    }
    expect(local.received).toHaveLength(0);
    // What admins see names no address and no port.
    const cookie = await consoleCookie(t.url);
    const page = await (await fetch(`${t.url}/admin/webhooks/${id}`, { headers: { cookie, accept: 'text/html' } })).text();
    expect(page).toContain('private address refused');
    expect(page.replace(local.url.replace('http:', 'https:'), '')).not.toMatch(/127\.0\.0\.1|DNS lookup|not allowed/);
  });
});

describe('WEBHOOK_ALLOW_PRIVATE=true', () => {
  it('lets production deliver to a receiver on this machine', async () => {
    const t = await startTestService({ env: { ...PRODUCTION, ...FAST, WEBHOOK_ALLOW_PRIVATE: 'true' } });
    try {
      const local = await receiver();
      const res = await register(t, local.url);
      expect(res.status).toBe(201);
      local.secret = ((await res.json()) as { secret: string }).secret;
      // Registered only: it listens to erasures, and none happens here (nothing may connect to 10.0.0.1 from a test).
      expect((await register(t, 'https://10.0.0.1/', ['contact.erased'])).status).toBe(201);
      await suppress(t, 'allowed@example.com');
      await waitFor(() => local.accepted().length === 1, 5000, 'the event');
      expect(local.accepted()[0]!.data.email).toBe('allowed@example.com');
    } finally {
      await t.stop();
    }
  });
});

describe('connection errors are told as a class, never as the raw message', () => {
  it('refused, TLS and timeout', async () => {
    const t = await startTestService({ env: { ...FAST, WEBHOOK_TIMEOUT_MS: '200' } });
    try {
      const plain = await receiver();
      const slow = await receiver(() => 200, 2000);
      const port = await closedPort();
      const cases = [
        { url: `http://127.0.0.1:${port}/hook`, error: 'connection refused' },
        // TLS spoken to a plain HTTP server.
        { url: plain.url.replace('http:', 'https:'), error: 'TLS error' },
        { url: slow.url, error: 'timeout' },
      ];
      const ids: string[] = [];
      for (const { url } of cases) {
        const res = await register(t, url);
        expect(res.status).toBe(201);
        ids.push(((await res.json()) as { id: string }).id);
      }
      await suppress(t, 'classes@example.com');
      const cookie = await consoleCookie(t.url);
      for (const [i, { error }] of cases.entries()) {
        const attempts = await waitFor(
          async () => {
            const made = await attemptsOf(t, ids[i]!);
            return made.length >= 1 && made;
          },
          5000,
          `an attempt to ${cases[i]!.url}`,
        );
        expect(attempts[0]).toMatchObject({ statusCode: null, error });
        const page = await (await fetch(`${t.url}/admin/webhooks/${ids[i]}`, { headers: { cookie, accept: 'text/html' } })).text();
        expect(page).toContain(error);
        expect(page.replaceAll(cases[i]!.url, '')).not.toMatch(
          /ECONNREFUSED|EPROTO|wrong version|SSL routines|TimeoutError|aborted|127\.0\.0\.1:/i,
        );
      }
    } finally {
      await t.stop();
    }
  });
});
