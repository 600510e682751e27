import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcastApi, handedRows, progressOf, seedConfirmedList } from '../support/broadcasts.js';
import { linkIn, oneClick, postJson, waitFor } from '../support/http.js';
import { runAdminCli } from '../support/processes.js';
import { ADMIN_AUTH, consoleCookie, startTestService, TEST_SECRET, type TestService } from '../support/service.js';
import { createToken } from '../../src/platform/http/tokens.js';

let t: TestService;
beforeAll(async () => {
  // No pace here: the pace has its own test (two worker processes); this one is about who gets what.
  t = await startTestService({ env: { BROADCAST_RATE_PER_MINUTE: '0' } });
});
afterAll(async () => {
  await t?.stop();
});

const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;
const broadcastMails = (id: number) => t.smtp.messages.filter((m) => m.parsed.messageId?.startsWith(`<bc${id}-`));

async function subscriptionIdOf(email: string): Promise<number> {
  const {
    db,
    tables: { contacts, subscriptions },
  } = t.service.database;
  const [row] = await db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .where(eq(contacts.emailKey, email));
  return row!.id;
}

describe('broadcast API', () => {
  it('creates drafts and scheduled broadcasts, lists them newest first, and refuses wrong transitions with 409', async () => {
    await seedConfirmedList(t.service.database, 'api-list', 3);
    const draft = await broadcastApi(t.url, '', { list: 'api-list', subject: 'Hello', body: 'Hi *there*', format: 'markdown' });
    expect(draft.status).toBe(201);
    expect(draft.body).toMatchObject({ status: 'draft', total: 0, queued: 0, sent: 0 });
    expect(typeof draft.body.id).toBe('number');
    const id = draft.body.id as number;

    expect((await broadcastApi(t.url, '', { list: 'nope', subject: 'x', body: 'y', format: 'markdown' })).status).toBe(404);
    expect((await broadcastApi(t.url, '', { list: 'api-list', subject: 'x', body: 'y', format: 'html' })).body.error.code).toBe(
      'invalid_format',
    );
    expect(
      (
        await broadcastApi(t.url, '', {
          list: 'api-list',
          subject: 'x',
          body: '<mj-section><mj-text>no column</mj-text></mj-section>',
          format: 'mjml',
        })
      ).body.error.code,
    ).toBe('invalid_body');
    expect(
      (await broadcastApi(t.url, '', { list: 'api-list', subject: 'x', body: 'y', format: 'markdown', sendAt: '2001-01-01T00:00:00Z' }))
        .status,
    ).toBe(400);
    expect(
      (await fetch(`${t.url}/admin/api/broadcasts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }))
        .status,
    ).toBe(401);

    expect((await broadcastApi(t.url, `/${id}/pause`)).status).toBe(409);
    expect((await broadcastApi(t.url, `/${id}/resume`)).status).toBe(409);
    expect((await broadcastApi(t.url, '/999999/send')).status).toBe(404);

    const scheduled = await broadcastApi(t.url, '', {
      list: 'api-list',
      subject: 'Later',
      body: 'Later',
      format: 'markdown',
      sendAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect(scheduled.body.status).toBe('scheduled');
    const list = await (await fetch(`${t.url}/admin/api/broadcasts`, { headers: ADMIN_AUTH })).json();
    expect(list.items.map((b: { id: number }) => b.id).slice(0, 2)).toEqual([scheduled.body.id, id]);

    // The scheduled one starts by itself at sendAt and ends sent.
    const done = await waitFor(
      async () => {
        const p = await progressOf(t.url, scheduled.body.id);
        return p.status === 'sent' && p;
      },
      15_000,
      'the scheduled broadcast to be sent',
    );
    expect(done).toMatchObject({ total: 3, sent: 3, queued: 0, dropped: 0, failed: 0 });
    expect(done.startedAt).not.toBeNull();
    expect(done.finishedAt).not.toBeNull();

    expect((await broadcastApi(t.url, `/${scheduled.body.id}/send`)).status).toBe(409);
    expect((await broadcastApi(t.url, `/${scheduled.body.id}/cancel`)).status).toBe(409);
    expect((await broadcastApi(t.url, `/${id}/cancel`)).body.status).toBe('cancelled');
    expect((await broadcastApi(t.url, `/${id}/send`)).status).toBe(409);
  });
});

describe('a broadcast to 2,000 confirmed subscribers', () => {
  it(
    'mails each exactly once; pause holds, an opt-out and a suppression in between are dropped, resume finishes; counts are honest',
    { timeout: 180_000 },
    async () => {
      const { emails } = await seedConfirmedList(t.service.database, 'big', 2000);
      const suppressed = emails[1500]!;
      expect((await postJson(`${t.url}/admin/api/suppressions`, { email: suppressed, reason: 'manual' }, ADMIN_AUTH)).status).toBe(201);

      const created = await broadcastApi(t.url, '', {
        list: 'big',
        subject: 'Big news',
        body: '# Big news\n\nFor everyone.',
        format: 'markdown',
      });
      const id = created.body.id as number;
      // A test copy to a suppressed address is refused like any other mail.
      expect((await broadcastApi(t.url, `/${id}/test`, { email: suppressed.toUpperCase() })).status).toBe(409);
      expect((await broadcastApi(t.url, `/${id}/send`)).body.status).toBe('sending');

      await waitFor(async () => (await progressOf(t.url, id)).sent >= 200, 60_000, '200 sent');
      expect((await broadcastApi(t.url, `/${id}/pause`)).body.status).toBe('paused');
      // Paused: every message in a worker's hands finishes, the rest are given back and stay queued.
      await waitFor(async () => (await handedRows(t.service.database, id)) === 0, 30_000, 'the paused broadcast to settle');
      const atPause = await progressOf(t.url, id);
      expect(atPause.status).toBe('paused');
      expect(atPause.queued).toBeGreaterThan(0);
      expect(broadcastMails(id).length).toBe(atPause.sent);

      // A recipient still waiting opts out (through an older link: not this broadcast's).
      const { outbox } = t.service.database.tables;
      const waiting = await t.service.database.db
        .select({ subscriptionId: outbox.subscriptionId })
        .from(outbox)
        .where(eq(outbox.status, 'queued'))
        .limit(1);
      const leaving = waiting[0]!.subscriptionId!;
      const oldLink = `${t.url}/unsubscribe?token=${createToken([TEST_SECRET], { purpose: 'unsubscribe', subscriptionId: leaving, expiresAt: 0 })}`;
      expect((await oneClick(oldLink)).status).toBe(200);
      // A recipient who got it unsubscribes through this broadcast's own link: counted as unsubscribed.
      const first = broadcastMails(id)[0]!;
      expect((await oneClick(local(first.header('list-unsubscribe')!.slice(1, -1)))).status).toBe(200);
      expect((await oneClick(local(linkIn(first, 'unsubscribe')))).status).toBe(200); // a second click counts nothing
      expect(broadcastMails(id).length).toBe(atPause.sent); // still held

      expect((await broadcastApi(t.url, `/${id}/resume`)).body.status).toBe('sending');
      const done = await waitFor(
        async () => {
          const p = await progressOf(t.url, id);
          return p.status === 'sent' && p;
        },
        120_000,
        'the broadcast to finish',
      );
      expect(done).toMatchObject({ total: 2000, queued: 0, sent: 1998, failed: 0, dropped: 2, cancelled: 0, unsubscribed: 1 });

      const mails = broadcastMails(id);
      expect(mails.length).toBe(1998);
      const perAddress = new Map<string, number>();
      for (const mail of mails) for (const to of mail.envelopeTo) perAddress.set(to, (perAddress.get(to) ?? 0) + 1);
      expect([...perAddress.values()].every((n) => n === 1)).toBe(true);
      expect(perAddress.has(suppressed)).toBe(false);
      const { contacts, subscriptions } = t.service.database.tables;
      const [leavingContact] = await t.service.database.db
        .select({ email: contacts.email })
        .from(subscriptions)
        .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
        .where(eq(subscriptions.id, leaving));
      expect(perAddress.has(leavingContact!.email)).toBe(false);
    },
  );

  it('cancel stops it: what was waiting is counted cancelled, nothing more is sent', { timeout: 120_000 }, async () => {
    await seedConfirmedList(t.service.database, 'cancel-list', 600);
    const id = (await broadcastApi(t.url, '', { list: 'cancel-list', subject: 'Soon cancelled', body: 'Body', format: 'markdown' })).body
      .id as number;
    await broadcastApi(t.url, `/${id}/send`);
    await waitFor(async () => (await progressOf(t.url, id)).sent >= 50, 60_000, '50 sent');
    await broadcastApi(t.url, `/${id}/pause`);
    await waitFor(async () => (await handedRows(t.service.database, id)) === 0, 30_000, 'the paused broadcast to settle');
    const cancelled = await broadcastApi(t.url, `/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    const p = cancelled.body;
    expect(p.status).toBe('cancelled');
    expect(p.queued).toBe(0);
    expect(p.sent + p.cancelled + p.dropped + p.failed).toBe(600);
    expect(p.cancelled).toBeGreaterThan(0);
    expect(broadcastMails(id).length).toBe(p.sent);
    expect((await broadcastApi(t.url, `/${id}/resume`)).status).toBe(409);
  });
});

describe('what a broadcast message is', () => {
  it(
    'markdown and MJML bodies in en and fr, sanitised, with the list headers and a Message-ID from its row',
    { timeout: 60_000 },
    async () => {
      const { emails } = await seedConfirmedList(t.service.database, 'render', 2, { frEvery: 2 });
      const [fr, en] = emails as [string, string];
      const markdown = await broadcastApi(t.url, '', {
        list: 'render',
        subject: { en: 'The news', fr: 'Les nouvelles' },
        body: {
          en: '# Hello\n\nRead **this**.<script>alert(1)</script><img src="http://tracker.test/p.gif"><img src="https://img.test/ok.png" alt="ok">',
          fr: '# Bonjour\n\nLisez **ceci**.<script>alert(1)</script>',
        },
        format: 'markdown',
      });
      const mjml = await broadcastApi(t.url, '', {
        list: 'render',
        subject: 'MJML news',
        body: {
          en: '<mj-section><mj-column><mj-text>English MJML<script>alert(2)</script></mj-text><mj-button href="https://example.org">Go</mj-button></mj-column></mj-section><mj-head><mj-font name="Roboto" href="https://fonts.googleapis.com/css?family=Roboto" /></mj-head>',
          fr: '<mj-section><mj-column><mj-text>MJML en français</mj-text></mj-column></mj-section>',
        },
        format: 'mjml',
      });
      for (const b of [markdown, mjml]) {
        expect(b.status).toBe(201);
        await broadcastApi(t.url, `/${b.body.id}/send`);
        await waitFor(async () => (await progressOf(t.url, b.body.id)).status === 'sent', 30_000, 'sent');
      }
      const mailTo = (email: string, id: number) => t.smtp.to(email).find((m) => m.parsed.messageId?.startsWith(`<bc${id}-`))!;
      const enMd = mailTo(en, markdown.body.id);
      const frMd = mailTo(fr, markdown.body.id);
      expect(enMd.parsed.subject).toBe('The news');
      expect(frMd.parsed.subject).toBe('Les nouvelles');
      expect(enMd.parsed.html).toContain('<h1>Hello</h1>');
      expect(enMd.parsed.html).toContain('https://img.test/ok.png');
      expect(enMd.parsed.html).not.toContain('tracker.test');
      expect(frMd.parsed.html).toContain('Lisez <strong>ceci</strong>');
      expect(frMd.parsed.html).toContain('Vous pouvez vous désinscrire');
      expect(enMd.parsed.text).toContain('Read this.');
      const enMjml = mailTo(en, mjml.body.id);
      const frMjml = mailTo(fr, mjml.body.id);
      expect(enMjml.parsed.html).toContain('English MJML');
      expect(enMjml.parsed.html).toContain('https://example.org');
      expect(frMjml.parsed.html).toContain('MJML en français');
      for (const mail of [enMd, frMd, enMjml, frMjml]) {
        expect(mail.raw).not.toMatch(/<script|alert\(|googleapis/i);
        const subscriptionId = await subscriptionIdOf(mail.envelopeTo[0]!);
        expect(mail.parsed.messageId).toMatch(new RegExp(`^<bc\\d+-${subscriptionId}@example\\.org>$`));
        expect(mail.header('list-unsubscribe')).toMatch(/^<http:\/\/optin\.test\/unsubscribe\?token=[\w.-]+>$/);
        expect(mail.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
        expect(mail.header('list-id')).toContain('<render.optin.test>');
        expect(linkIn(mail, 'unsubscribe')).toBe(mail.header('list-unsubscribe')!.slice(1, -1));
      }
    },
  );

  it('a test send reaches the typed address, marked as a test', async () => {
    await seedConfirmedList(t.service.database, 'testsend', 1);
    const id = (await broadcastApi(t.url, '', { list: 'testsend', subject: 'Draft', body: 'Draft body', format: 'markdown' })).body
      .id as number;
    const res = await broadcastApi(t.url, `/${id}/test`, { email: 'Editor@Example.net' });
    expect(res.status).toBe(200);
    const mail = await waitFor(() => t.smtp.to('Editor@example.net')[0], 5000, 'the test copy');
    expect(mail.parsed.subject).toBe('[TEST] Draft');
    expect((await broadcastApi(t.url, `/${id}/test`, { email: 'not an address' })).status).toBe(400);
    expect((await progressOf(t.url, id)).status).toBe('draft');
  });
});

describe('the broadcast console', () => {
  it('lists, writes, shows progress with a meta refresh and no script, previews in a sandbox, and sends', { timeout: 60_000 }, async () => {
    await seedConfirmedList(t.service.database, 'console', 2);
    const cookie = await consoleCookie(t.url);
    const get = (p: string) => fetch(`${t.url}${p}`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
    const post = (p: string, fields: Record<string, string>) =>
      fetch(`${t.url}${p}`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: new URLSearchParams(fields).toString(),
        redirect: 'manual',
      });
    const listPage = await get('/admin/broadcasts');
    expect(listPage.status).toBe(200);
    const html = await listPage.text();
    expect(html).not.toContain('<script');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

    const created = await post('/admin/broadcasts', {
      _csrf: csrf,
      list: 'console',
      format: 'markdown',
      subject_en: 'From the console',
      body_en: 'Line one\n\nLine *two*',
      subject_fr: '',
      body_fr: '',
      sendAt: '',
    });
    expect(created.status).toBe(303);
    const where = created.headers.get('location')!;
    const id = Number(/\/admin\/broadcasts\/(\d+)/.exec(where)![1]);
    const page = await get(`/admin/broadcasts/${id}`);
    const pageHtml = await page.text();
    expect(pageHtml).toContain('From the console');
    expect(pageHtml).not.toContain('<script');
    expect(page.headers.get('content-security-policy')).toContain("frame-src 'self'");
    expect(pageHtml).toContain(`/admin/broadcasts/${id}/preview?locale=en`);

    const preview = await get(`/admin/broadcasts/${id}/preview?locale=en`);
    expect(preview.headers.get('content-security-policy')).toMatch(/sandbox/);
    expect(preview.headers.get('content-security-policy')).not.toMatch(/script-src/);
    expect(await preview.text()).toContain('Line <em>two</em>');

    expect((await post(`/admin/broadcasts/${id}/send`, { _csrf: csrf })).status).toBe(303);
    const running = await get(`/admin/broadcasts/${id}`);
    const runningHtml = await running.text();
    if (!runningHtml.includes('status <strong>sent</strong>')) expect(runningHtml).toContain('<meta http-equiv="refresh" content="5">');
    expect(runningHtml).toContain('<progress');
    await waitFor(async () => (await progressOf(t.url, id)).status === 'sent', 30_000, 'sent');
    expect((await post(`/admin/broadcasts/${id}/pause`, { _csrf: csrf })).status).toBe(409);
    // Without the CSRF token a form post is refused.
    expect((await post(`/admin/broadcasts/${id}/cancel`, {})).status).toBe(403);
  });
});

describe('npm run admin -- broadcasts', () => {
  it('send --follow starts the broadcast, waits until it ends and prints its counts', { timeout: 60_000 }, async () => {
    await seedConfirmedList(t.service.database, 'cli', 5);
    const id = (await broadcastApi(t.url, '', { list: 'cli', subject: 'From the CLI', body: 'Body', format: 'markdown' })).body
      .id as number;
    const env = { DATABASE_PATH: t.config.databasePath, SECRET: TEST_SECRET, REDIS_URL: t.config.redisUrl };
    const run = await runAdminCli(['broadcasts', 'send', String(id), '--follow'], env);
    expect(run.stderr).toContain(`broadcast ${id}`);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!)).toMatchObject({ id, status: 'sent', total: 5, sent: 5 });
    expect((await runAdminCli(['broadcasts', 'pause', String(id)], env)).code).toBe(1);
    const listed = await runAdminCli(['broadcasts', 'list'], env);
    expect(listed.stdout).toContain(`${id}\tsent\tcli\t5`);
  });
});
