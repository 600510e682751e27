import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import express, { type ErrorRequestHandler } from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '../../src/errors.js';
import { rateLimitByIp } from '../../src/platform/http/rateLimit.js';
import { sendError } from '../../src/platform/http/respond.js';
import { createLogger } from '../../src/logger.js';
import { mayMail } from '../../src/features/policy/service.js';
import { canary } from '../support/canary.js';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { startTestService, startWorkerBeside, TEST_SECRET, type TestService } from '../support/service.js';

const DAY_MS = 86_400_000;

async function addList(t: TestService, slug: string): Promise<number> {
  return t.service.database.transaction(
    async ({ db, tables: { lists } }) =>
      (
        await db
          .insert(lists)
          .values({ slug, name: `List ${slug}`, createdAt: Date.now() })
          .returning()
      )[0]!.id,
  );
}

function redisReady(...services: TestService[]) {
  return waitFor(() => services.every((s) => s.service.queue.redis.status === 'ready'), 5000, 'Redis connections');
}

function confirmationRows(t: TestService) {
  const {
    db,
    tables: { outbox },
  } = t.service.database;
  return db.select().from(outbox).where(eq(outbox.kind, 'confirmation'));
}

/** The addresses of every contact the service stored. */
async function storedEmails(t: TestService): Promise<string[]> {
  const {
    db,
    tables: { contacts },
  } = t.service.database;
  return (await db.select({ email: contacts.email }).from(contacts)).map((c) => c.email);
}

describe('honeypot', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers a filled-in honeypot exactly as a signup, and stores and sends nothing', async () => {
    const human = await postJson(`${t.url}/subscribe`, { email: 'person@example.com', website: '' });
    const bot = await postJson(`${t.url}/subscribe`, { email: 'bot-target@example.com', website: 'http://spam.test' });
    expect(bot.status).toBe(202);
    expect(await bot.text()).toBe(await human.text());

    const botForm = await postForm(`${t.url}/subscribe`, { email: 'bot-form@example.com', website: 'x' });
    const humanForm = await postForm(`${t.url}/subscribe`, { email: 'person-form@example.com', website: '' });
    expect(botForm.status).toBe(303);
    expect(botForm.headers.get('location')).toBe(humanForm.headers.get('location'));

    await waitFor(() => t.smtp.to('person@example.com')[0], 5000, 'the person’s confirmation');
    await waitFor(() => t.smtp.to('person-form@example.com')[0], 5000, 'the form person’s confirmation');
    // What was stored is decided by the answered requests; counted before the canary adds its own contact.
    const stored = await storedEmails(t);
    expect(stored.sort()).toEqual(['person-form@example.com', 'person@example.com']);
    await canary(t);
    expect(t.smtp.to('bot-target@example.com')).toHaveLength(0);
    expect(t.smtp.to('bot-form@example.com')).toHaveLength(0);
  });
});

describe('Turnstile CAPTCHA', () => {
  let t: TestService;
  let standIn: Server;
  const seen: URLSearchParams[] = [];
  beforeAll(async () => {
    // Stands in for Cloudflare's siteverify: only "good-token" proves a person.
    standIn = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        seen.push(form);
        const success = form.get('secret') === 'turnstile-test-secret' && form.get('response') === 'good-token';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(success ? { success: true } : { success: false, 'error-codes': ['invalid-input-response'] }));
      });
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    const { port } = standIn.address() as AddressInfo;
    t = await startTestService({
      env: { TURNSTILE_SECRET: 'turnstile-test-secret', TURNSTILE_VERIFY_URL: `http://127.0.0.1:${port}/turnstile/v0/siteverify` },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise((resolve) => standIn?.close(resolve));
  });

  it('refuses a missing or wrong token before storing anything', async () => {
    const missing = await postJson(`${t.url}/subscribe`, { email: 'no-token@example.com' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: { code: 'captcha_failed', message: expect.any(String) } });
    const wrong = await postForm(`${t.url}/subscribe`, { email: 'wrong-token@example.com', 'cf-turnstile-response': 'forged' });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('captcha_failed');
    expect(seen.at(-1)?.get('response')).toBe('forged');
    expect(await storedEmails(t)).toEqual([]);
  });

  it('accepts a token the verifier vouches for, passing it the client IP', async () => {
    const res = await postForm(`${t.url}/subscribe`, { email: 'human@example.com', 'cf-turnstile-response': 'good-token' });
    expect(res.status).toBe(303);
    expect(seen.at(-1)?.get('remoteip')).toMatch(/127\.0\.0\.1/);
    await waitFor(() => t.smtp.to('human@example.com')[0], 5000, 'the confirmation');
  });

  it('fails closed with a 503 when the verifier cannot be reached', async () => {
    const offline = await startTestService({
      roles: ['api'],
      env: { TURNSTILE_SECRET: 'turnstile-test-secret', TURNSTILE_VERIFY_URL: 'http://127.0.0.1:1/siteverify' },
    });
    try {
      const res = await postJson(`${offline.url}/subscribe`, { email: 'human@example.com', 'cf-turnstile-response': 'good-token' });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: { code: 'captcha_unavailable', message: expect.any(String) } });
      expect(await storedEmails(offline)).toEqual([]);
    } finally {
      await offline.stop();
    }
  });
});

describe('rate limit per client IP, kept in Redis', () => {
  it('holds across two instances sharing one Redis, with Retry-After and the JSON error', async () => {
    const env = { QUEUE_PREFIX: `test-${randomUUID()}`, RATE_LIMIT_PER_MINUTE: '3' };
    const a = await startTestService({ roles: ['api'], env });
    const b = await startTestService({ roles: ['api'], env });
    try {
      // Until its connection is ready an instance counts in memory (see rateLimit.ts).
      await redisReady(a, b);
      const post = (s: TestService, n: number, headers?: Record<string, string>) =>
        postJson(`${s.url}/subscribe`, { email: `burst${n}@example.com` }, headers);
      expect((await post(a, 1)).status).toBe(202);
      expect((await post(b, 2)).status).toBe(202);
      expect((await post(a, 3)).status).toBe(202);
      const limited = await post(b, 4);
      expect(limited.status).toBe(429);
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(await limited.json()).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
      // Without TRUST_PROXY, X-Forwarded-For is not believed: a client can't pick a new IP.
      expect((await post(a, 5, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(429);
      const page = await postForm(`${a.url}/subscribe`, { email: 'burst6@example.com' });
      expect(page.status).toBe(429);
      expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await page.text()).toContain('rate_limited');
      // The limited requests stored nothing.
      expect(await storedEmails(b)).toEqual(['burst2@example.com']);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('counts the address the trusted proxy reports with TRUST_PROXY set', async () => {
    const t = await startTestService({ roles: ['api'], env: { RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: '127.0.0.1' } });
    try {
      await redisReady(t);
      const from = (ip: string, n: number) =>
        postJson(`${t.url}/subscribe`, { email: `proxied${n}@example.com` }, { 'x-forwarded-for': ip });
      expect((await from('203.0.113.1', 1)).status).toBe(202);
      expect((await from('203.0.113.1', 2)).status).toBe(429);
      expect((await from('203.0.113.2', 3)).status).toBe(202);
    } finally {
      await t.stop();
    }
  });

  it('still lets requests through while Redis is down, limiting per process instead, without hanging', async () => {
    const deadRedis = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    deadRedis.on('error', () => {});
    const app = express();
    app.post(
      '/signup',
      rateLimitByIp(deadRedis, { perMinute: 2, keyPrefix: `test-${randomUUID()}` }, createLogger('silent')),
      (_req, res) => {
        res.status(202).json({ status: 'accepted' });
      },
    );
    app.use(((error, req, res, _next) => sendError(req, res, error as AppError)) as ErrorRequestHandler);
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/signup`;
      const statuses = [];
      for (let i = 0; i < 3; i += 1) statuses.push((await postJson(url, {})).status);
      expect(statuses).toEqual([202, 202, 429]);
    } finally {
      server.close();
      deadRedis.disconnect();
    }
  });
});

describe('list bombing: confirmation cooldown and caps per address', () => {
  it('mails one address once per cooldown across two instances sharing the database and Redis, whatever the lists', async () => {
    const env = { QUEUE_PREFIX: `test-${randomUUID()}`, CONFIRM_COOLDOWN: '15m', CONFIRM_MAX: '3' };
    const a = await startTestService({ env });
    const b = await startTestService({ roles: ['api'], env, sink: a.smtp, dataDir: path.dirname(a.config.databasePath) });
    try {
      await addList(a, 'other');
      expect((await postJson(`${a.url}/subscribe`, { email: 'victim@example.com' })).status).toBe(202);
      await waitFor(() => a.smtp.to('victim@example.com')[0], 5000, 'the first confirmation');
      const answers = await Promise.all([
        postJson(`${b.url}/subscribe`, { email: 'Victim@Example.com', list: 'other' }),
        postJson(`${a.url}/subscribe`, { email: 'victim@example.com' }),
        postForm(`${b.url}/subscribe`, { email: 'victim@example.com', list: 'other' }),
      ]);
      expect(answers.map((r) => r.status)).toEqual([202, 202, 303]);
      // The API decides whether a confirmation is written: counted before the canary writes its own.
      expect(await confirmationRows(a)).toHaveLength(1);
      await canary(a);
      expect(a.smtp.to('victim@example.com')).toHaveLength(1);
      // Another address is not held up by the victim's cooldown.
      await postJson(`${b.url}/subscribe`, { email: 'bystander@example.com', list: 'other' });
      await waitFor(() => a.smtp.to('bystander@example.com')[0], 5000, 'the bystander’s confirmation');
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  it('sends at most CONFIRM_MAX a day, and none more to an address that never confirms', async () => {
    const t = await startTestService({ env: { CONFIRM_COOLDOWN: '0', CONFIRM_MAX: '3' } });
    try {
      const otherList = await addList(t, 'other');
      for (let i = 0; i < 5; i += 1) {
        expect((await postJson(`${t.url}/subscribe`, { email: 'bombed@example.com', list: i % 2 ? 'other' : 'default' })).status).toBe(202);
      }
      await waitFor(() => t.smtp.to('bombed@example.com')[2], 5000, 'three confirmations');
      await canary(t);
      expect(t.smtp.to('bombed@example.com')).toHaveLength(3);

      const database = t.service.database;
      const { contacts } = database.tables;
      const [contact] = await database.db.select().from(contacts).where(eq(contacts.emailKey, 'bombed@example.com'));
      const ask = (now: number) =>
        mayMail(database, [TEST_SECRET], {
          emailKey: contact!.emailKey,
          listId: otherList,
          kind: 'confirmation',
          subscriptionStatus: 'pending',
          confirmExpiresAt: now + DAY_MS,
          confirmBudget: { contactId: contact!.id, outboxId: null, requestedAt: now, limits: { cooldownMs: 0, max: 3 } },
          now,
        });
      expect(await ask(Date.now())).toEqual({ allowed: false, reason: 'confirm_daily_limit' });
      // A day later the daily count is clear, but three unanswered confirmations are enough.
      expect(await ask(Date.now() + 2 * DAY_MS)).toEqual({ allowed: false, reason: 'confirm_unanswered' });

      // Once the person confirms one of them, they may sign up elsewhere again (on another day).
      const confirmed = await postJson(`${t.url}/confirm`, { token: tokenOf(linkIn(t.smtp.to('bombed@example.com')[0]!, 'confirm')) });
      expect(confirmed.status).toBe(200);
      expect(await ask(Date.now() + 2 * DAY_MS)).toEqual({ allowed: true });
    } finally {
      await t.stop();
    }
  });

  it('is enforced by the worker too, right before sending', async () => {
    // An API without limits queues two confirmations for one address; the worker has limits.
    const api = await startTestService({ roles: ['api'] });
    try {
      await addList(api, 'other');
      await postJson(`${api.url}/subscribe`, { email: 'twice@example.com' });
      await postJson(`${api.url}/subscribe`, { email: 'twice@example.com', list: 'other' });
      expect(await confirmationRows(api)).toHaveLength(2);
      const worker = await startWorkerBeside(api, { CONFIRM_COOLDOWN: '900s' });
      try {
        const rows = await waitFor(
          async () => {
            const all = await confirmationRows(api);
            return all.every((r) => r.status !== 'queued') ? all : undefined;
          },
          5000,
          'both rows handled',
        );
        expect(rows.map((r) => r.status).sort()).toEqual(['dropped', 'sent']);
        expect(rows.find((r) => r.status === 'dropped')?.lastError).toBe('confirm_cooldown');
        await canary(api);
        expect(api.smtp.to('twice@example.com')).toHaveLength(1);
      } finally {
        await worker.stop();
      }
    } finally {
      await api.stop();
    }
  });
});

describe('header injection', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('never lets a field add a header or a recipient at the SMTP server', async () => {
    const attempts = [
      postJson(`${t.url}/subscribe`, { email: 'victim@example.com\r\nBcc: evil@attacker.test' }),
      postJson(`${t.url}/subscribe`, { email: 'victim@example.com\nCc: evil@attacker.test' }),
      postForm(`${t.url}/subscribe`, { email: 'victim@example.com\r\nBcc: evil@attacker.test' }),
      postJson(`${t.url}/subscribe`, { email: 'victim@example.com', name: 'Ann\r\nBcc: evil@attacker.test' }),
      postJson(`${t.url}/subscribe`, { email: 'victim@example.com', locale: 'en\r\nBcc: evil@attacker.test' }),
      postJson(`${t.url}/subscribe`, { email: 'victim@example.com', list: 'default\r\nBcc: evil@attacker.test' }),
      postJson(`${t.url}/subscribe`, { email: '"evil@attacker.test>\r\nBcc:"@example.com' }),
    ];
    for (const res of await Promise.all(attempts)) expect(res.status).toBe(400);

    // A harmless-looking name without line breaks is kept, and reaches only the welcome's body.
    expect((await postJson(`${t.url}/subscribe`, { email: 'victim@example.com', name: 'Ann Bcc: evil@attacker.test' })).status).toBe(202);
    const confirmation = await waitFor(() => t.smtp.to('victim@example.com')[0], 5000, 'the confirmation');
    expect(confirmation.raw).not.toContain('evil@attacker.test');
    await postJson(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) });
    const welcome = await waitFor(() => t.smtp.to('victim@example.com')[1], 5000, 'the welcome');
    await canary(t);

    expect(t.smtp.messages).toHaveLength(2);
    for (const mail of t.smtp.messages) {
      expect(mail.envelopeTo).toEqual(['victim@example.com']);
      const head = mail.raw.split(/\r?\n\r?\n/, 1)[0]!;
      expect(head).not.toMatch(/^(bcc|cc):/im);
      expect(head).not.toContain('attacker');
      expect(mail.header('to')).toBe('victim@example.com');
    }
    expect(welcome.parsed.text).toContain('Ann Bcc: evil@attacker.test');
  });
});

describe('security headers and CORS', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ roles: ['api'], env: { ALLOWED_ORIGINS: 'https://site.test, https://other.test:8443' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('sends a CSP that allows the page’s own stylesheet by hash, and no scripts or framing', async () => {
    const res = await fetch(`${t.url}/thanks`);
    const html = await res.text();
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const hash = createHash('sha256').update(style).digest('base64');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain(`style-src 'sha256-${hash}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    // Error answers carry them too.
    const error = await fetch(`${t.url}/confirm?token=bad`);
    expect(error.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('lets the listed origins post signups with fetch, and only them', async () => {
    const preflight = (origin: string) =>
      fetch(`${t.url}/subscribe`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
    const allowed = await preflight('https://site.test');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://site.test');
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
    expect((await preflight('https://other.test:8443')).headers.get('access-control-allow-origin')).toBe('https://other.test:8443');
    expect((await preflight('https://evil.test')).headers.get('access-control-allow-origin')).toBeNull();

    const post = await postJson(`${t.url}/subscribe`, { email: 'cors@example.com' }, { origin: 'https://site.test' });
    expect(post.status).toBe(202);
    expect(post.headers.get('access-control-allow-origin')).toBe('https://site.test');
    const foreign = await postJson(`${t.url}/subscribe`, { email: 'cors2@example.com' }, { origin: 'https://evil.test' });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    // Other paths don't answer cross-origin reads.
    const health = await fetch(`${t.url}/healthz`, { headers: { origin: 'https://site.test' } });
    expect(health.headers.get('access-control-allow-origin')).toBeNull();
  });
});
