import vm from 'node:vm';
import v8 from 'node:v8';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mayMail } from '../../src/features/policy/service.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { runAdminCli } from '../support/processes.js';
import { ADMIN_AUTH, startTestService, TEST_SECRET, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${t.url}/admin/api${path}`, { ...init, headers: { ...ADMIN_AUTH, ...(init.headers as Record<string, string> | undefined) } });

interface Item {
  email: string;
  name: string | null;
  locale: string;
  status: string;
  createdAt: string;
  confirmedAt: string | null;
  unsubscribedAt: string | null;
  unsubscribeUrl: string;
  preferencesUrl: string | null;
}
interface Page {
  items: Item[];
  nextCursor: string | null;
}

async function page(slug: string, query: string): Promise<Page> {
  const res = await api(`/lists/${slug}/subscribers?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

/** Every page of a query, following nextCursor. */
async function allPages(slug: string, query: string): Promise<Item[][]> {
  const pages: Item[][] = [];
  let cursor: string | null = '';
  while (cursor !== null) {
    const next = await page(slug, `${query}&cursor=${encodeURIComponent(cursor)}`);
    pages.push(next.items);
    cursor = next.nextCursor;
  }
  return pages;
}

async function ensureList(slug: string): Promise<number> {
  return t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug, name: slug, createdAt: Date.now() }).onConflictDoNothing();
    return (await db.select().from(lists).where(eq(lists.slug, slug)))[0]!.id;
  });
}

/** Writes subscribers straight into the database (many, fast): `email(i)` with the given status. */
async function seed(
  listId: number,
  count: number,
  email: (i: number) => string,
  status: 'pending' | 'confirmed' | 'unsubscribed' = 'confirmed',
  name: (i: number) => string | null = () => null,
) {
  const now = Date.now();
  for (let start = 0; start < count; start += 500) {
    await t.service.database.transaction(async ({ db, tables: { contacts, subscriptions } }) => {
      const rows = Array.from({ length: Math.min(500, count - start) }, (_, k) => start + k);
      const made = await db
        .insert(contacts)
        .values(rows.map((i) => ({ email: email(i), emailKey: email(i).toLowerCase(), name: name(i), locale: 'en', createdAt: now + i })))
        .returning({ id: contacts.id });
      await db.insert(subscriptions).values(
        made.map((c, k) => ({
          contactId: c.id,
          listId,
          status,
          createdAt: now + rows[k]!,
          confirmedAt: status === 'pending' ? null : now + rows[k]!,
          unsubscribedAt: status === 'unsubscribed' ? now + rows[k]! : null,
        })),
      );
    });
  }
}

/** Signs up through the form; confirms through the emailed link unless told not to. Returns the welcome's unsubscribe link. */
async function signUp(email: string, list: string, confirm = true): Promise<string | undefined> {
  const before = t.smtp.to(email.toLowerCase()).length;
  expect((await postJson(`${t.url}/subscribe`, { email, list })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email.toLowerCase())[before], 5000, 'confirmation');
  if (!confirm) return undefined;
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  const welcome = await waitFor(() => t.smtp.to(email.toLowerCase())[before + 1], 5000, 'welcome');
  return linkIn(welcome, 'unsubscribe');
}

describe('GET /admin/api/lists/:slug/subscribers', () => {
  it('pages newest first without gaps or repeats, filters by status and searches part of an address', async () => {
    const listId = await ensureList('paged');
    await seed(listId, 25, (i) => `paged.${String(i).padStart(2, '0')}@example.com`);
    await seed(listId, 3, (i) => `waiting.${i}@example.com`, 'pending');
    await seed(listId, 2, (i) => `gone.${i}@Example.com`, 'unsubscribed');

    const pages = await allPages('paged', 'limit=10');
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    const emails = pages.flat().map((i) => i.email);
    expect(emails).toEqual(Array.from({ length: 25 }, (_, i) => `paged.${String(24 - i).padStart(2, '0')}@example.com`));
    const first = pages[0]![0]!;
    expect(first).toEqual({
      email: 'paged.24@example.com',
      name: null,
      locale: 'en',
      status: 'confirmed',
      createdAt: expect.any(String),
      confirmedAt: expect.any(String),
      unsubscribedAt: null,
      unsubscribeUrl: expect.stringMatching(/^http:\/\/optin\.test\/unsubscribe\?token=[\w.-]+$/),
      preferencesUrl: expect.stringMatching(/^http:\/\/optin\.test\/preferences\?token=[\w.-]+$/),
    });

    expect((await page('paged', 'status=pending')).items.map((i) => i.email)).toEqual([
      'waiting.2@example.com',
      'waiting.1@example.com',
      'waiting.0@example.com',
    ]);
    const gone = await page('paged', 'status=unsubscribed');
    expect(gone.items.map((i) => [i.email, i.status, typeof i.unsubscribedAt])).toEqual([
      ['gone.1@Example.com', 'unsubscribed', 'string'],
      ['gone.0@Example.com', 'unsubscribed', 'string'],
    ]);
    // Substring of the address, any case; LIKE wildcards are plain letters.
    expect((await page('paged', 'q=ED.1')).items.map((i) => i.email)).toEqual(
      Array.from({ length: 10 }, (_, i) => `paged.${19 - i}@example.com`),
    );
    expect((await page('paged', 'q=gone&status=unsubscribed')).items).toHaveLength(2);
    expect((await page('paged', 'q=%25')).items).toEqual([]);
    expect((await page('paged', 'q=paged._4')).items).toEqual([]);
    const searched = await allPages('paged', 'q=paged.&limit=7');
    expect(searched.flat()).toHaveLength(25);
  });

  it('refuses bad parameters with 400 and an unknown list with 404, and wants the admin token', async () => {
    await ensureList('paged');
    for (const query of ['limit=0', 'limit=1001', 'limit=ten', 'status=suppressed', 'cursor=nonsense']) {
      const res = await api(`/lists/paged/subscribers?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^invalid_/);
    }
    expect((await api('/lists/paged/subscribers?limit=1000')).status).toBe(200);
    for (const path of ['/lists/nope/subscribers', '/lists/nope/subscribers.csv']) {
      const res = await api(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'unknown_list', message: expect.any(String) } });
    }
    const mailable = await postJson(`${t.url}/admin/api/lists/nope/mailable`, { emails: [] }, ADMIN_AUTH);
    expect(mailable.status).toBe(404);
    for (const path of ['/lists/paged/subscribers', '/lists/paged/subscribers.csv']) {
      expect((await fetch(`${t.url}/admin/api${path}`)).status).toBe(401);
    }
    expect((await postJson(`${t.url}/admin/api/lists/paged/mailable`, { emails: ['a@example.com'] })).status).toBe(401);
  });

  it('never shows a suppressed address as confirmed, and its unsubscribe link works one-click', async () => {
    await ensureList('gated');
    const link = await signUp('kept@example.com', 'gated');
    await signUp('bounced@example.com', 'gated');
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'bounced@example.com', reason: 'bounced' }, ADMIN_AUTH)).status,
    ).toBe(201);
    const confirmed = await page('gated', 'limit=1');
    // The page is filled past the suppressed one; the next page is empty.
    expect(confirmed.items.map((i) => i.email)).toEqual(['kept@example.com']);
    expect(confirmed.items[0]!.unsubscribeUrl).toBe(link);
    expect(confirmed.nextCursor).toBeNull();

    const url = new URL(confirmed.items[0]!.unsubscribeUrl);
    expect((await oneClick(`${t.url}${url.pathname}${url.search}`)).status).toBe(200);
    expect((await page('gated', '')).items).toEqual([]);
    expect((await page('gated', 'status=unsubscribed')).items.map((i) => i.email)).toEqual(['kept@example.com']);
  });
});

describe('GET /admin/api/lists/:slug/subscribers.csv', () => {
  it('exports the exact columns, formula-safe, with the header values a sending tool puts on each message', async () => {
    const listId = await ensureList('export');
    await seed(
      listId,
      3,
      (i) => `export.${i}@example.com`,
      'confirmed',
      (i) => ['=HYPERLINK("http://evil")', '+1, "quoted"', 'Ann'][i]!,
    );
    await seed(listId, 1, () => 'pending.export@example.com', 'pending');
    await seed(listId, 1, () => 'blocked.export@example.com');
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'blocked.export@example.com', reason: 'complained' }, ADMIN_AUTH)).status,
    ).toBe(201);

    const res = await api('/lists/export/subscribers.csv');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toContain('export-confirmed.csv');
    const lines = (await res.text()).split('\r\n');
    expect(lines[0]).toBe('email,name,locale,confirmed_at,unsubscribe_url,list_unsubscribe,list_unsubscribe_post');
    expect(lines).toHaveLength(5);
    expect(lines.at(-1)).toBe('');
    const json = (await page('export', '')).items;
    expect(json.map((i) => i.email)).toEqual(['export.2@example.com', 'export.1@example.com', 'export.0@example.com']);
    expect(lines.slice(1, 4)).toEqual([
      `export.2@example.com,Ann,en,${json[0]!.confirmedAt},${json[0]!.unsubscribeUrl},<${json[0]!.unsubscribeUrl}>,List-Unsubscribe=One-Click`,
      `export.1@example.com,"'+1, ""quoted""",en,${json[1]!.confirmedAt},${json[1]!.unsubscribeUrl},<${json[1]!.unsubscribeUrl}>,List-Unsubscribe=One-Click`,
      `export.0@example.com,"'=HYPERLINK(""http://evil"")",en,${json[2]!.confirmedAt},${json[2]!.unsubscribeUrl},<${json[2]!.unsubscribeUrl}>,List-Unsubscribe=One-Click`,
    ]);

    const pending = await (await api('/lists/export/subscribers.csv?status=pending')).text();
    expect(
      pending
        .split('\r\n')
        .slice(1, -1)
        .map((l) => l.split(',')[0]),
    ).toEqual(['pending.export@example.com']);

    const ndjson = await api('/lists/export/subscribers.csv?format=ndjson');
    expect(ndjson.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    const items = (await ndjson.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Item);
    expect(items).toEqual(json);
    expect((await api('/lists/export/subscribers.csv?format=xml')).status).toBe(400);
  });

  it('streams a large list in batches: the heap never holds the whole export', async () => {
    const rows = 30_000;
    const listId = await ensureList('large');
    await seed(
      listId,
      rows,
      (i) => `large.subscriber.number.${i}@example.com`,
      'confirmed',
      (i) => `Subscriber ${i}`,
    );
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;

    const res = await api('/lists/large/subscribers.csv');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let bytes = 0;
    let lines = 0;
    let midway: number | undefined;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      lines += decoder.decode(value, { stream: true }).split('\n').length - 1;
      if (midway === undefined && lines > rows / 2) {
        gc();
        midway = process.memoryUsage().heapUsed;
      }
    }
    expect(lines).toBe(rows + 1);
    // A full copy in memory (as text, or as rows) would be at least as big as what was sent.
    expect(bytes).toBeGreaterThan(10_000_000);
    // Half of it as the bound: the test's own service, sink and client share this heap (seen at
    // a quarter plus 2 % on a loaded machine), while an export held whole would pass all of it.
    expect(midway! - before).toBeLessThan(bytes / 2);
    // Its own time limit: 30,000 rows are seeded first (slow on a busy PostgreSQL).
  }, 120_000);
});

describe('POST /admin/api/lists/:slug/mailable', () => {
  it('agrees with the worker (mayMail) on every state, and names why', async () => {
    const listId = await ensureList('mailable');
    await ensureList('other');
    await signUp('m.confirmed@example.com', 'mailable');
    await signUp('m.pending@example.com', 'mailable', false);
    const link = (await signUp('m.unsubscribed@example.com', 'mailable'))!;
    const url = new URL(link);
    expect((await oneClick(`${t.url}${url.pathname}${url.search}`)).status).toBe(200);
    for (const [email, reason] of [
      ['m.bounced@example.com', 'bounced'],
      ['m.complained@example.com', 'complained'],
      ['m.blocked@example.com', 'manual'],
    ] as const) {
      await signUp(email, 'mailable');
      expect((await postJson(`${t.url}/admin/api/suppressions`, { email, reason }, ADMIN_AUTH)).status).toBe(201);
    }
    await signUp('m.erased@example.com', 'mailable');
    expect((await api('/contacts/m.erased%40example.com', { method: 'DELETE' })).status).toBe(204);
    await signUp('m.elsewhere@example.com', 'other');

    const asked = [
      'M.Confirmed@Example.com',
      'm.pending@example.com',
      'm.unsubscribed@example.com',
      'm.bounced@example.com',
      'm.complained@example.com',
      'm.blocked@example.com',
      'm.erased@example.com',
      'm.elsewhere@example.com',
      'never.seen@example.com',
      '"m.confirmed"@example.com',
      '"m confirmed"@example.com',
      'not an address',
    ];
    const res = await postJson(`${t.url}/admin/api/lists/mailable/mailable`, { emails: asked }, ADMIN_AUTH);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      mailable: ['M.Confirmed@Example.com'],
      notMailable: [
        { email: 'm.pending@example.com', reason: 'pending' },
        { email: 'm.unsubscribed@example.com', reason: 'unsubscribed' },
        { email: 'm.bounced@example.com', reason: 'suppressed' },
        { email: 'm.complained@example.com', reason: 'suppressed' },
        { email: 'm.blocked@example.com', reason: 'suppressed' },
        { email: 'm.erased@example.com', reason: 'suppressed' },
        { email: 'm.elsewhere@example.com', reason: 'not_subscribed' },
        { email: 'never.seen@example.com', reason: 'not_subscribed' },
        { email: '"m.confirmed"@example.com', reason: 'invalid' },
        { email: '"m confirmed"@example.com', reason: 'invalid' },
        { email: 'not an address', reason: 'invalid' },
      ],
    });

    // The worker's own question on the same rows (deliverOutboxMessage): the contact (none once
    // erased), its subscription to this list, a mail that needs a confirmed subscriber.
    const { database } = t.service;
    const { contacts, subscriptions } = database.tables;
    for (const email of asked) {
      const [contact] = await database.db.select().from(contacts).where(eq(contacts.emailKey, email.toLowerCase()));
      const [subscription] = contact
        ? await database.db
            .select()
            .from(subscriptions)
            .where(and(eq(subscriptions.contactId, contact.id), eq(subscriptions.listId, listId)))
        : [];
      const decision = await mayMail(database, t.config.secrets, {
        emailKey: contact?.emailKey ?? null,
        listId,
        kind: 'welcome',
        subscriptionStatus: subscription?.status ?? null,
        confirmExpiresAt: null,
        now: Date.now(),
      });
      expect(decision.allowed, email).toBe(email === 'M.Confirmed@Example.com');
    }
  });

  it('takes up to 1000 addresses and refuses anything else with 400', async () => {
    await ensureList('mailable');
    const many = Array.from({ length: 1000 }, (_, i) => `someone.with.a.rather.long.address.${i}@example.com`);
    const ok = await postJson(`${t.url}/admin/api/lists/mailable/mailable`, { emails: many }, ADMIN_AUTH);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { notMailable: unknown[] }).notMailable).toHaveLength(1000);
    for (const body of [{ emails: [...many, 'x@example.com'] }, { emails: 'a@example.com' }, { emails: [1] }, {}]) {
      const res = await postJson(`${t.url}/admin/api/lists/mailable/mailable`, body, ADMIN_AUTH);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_emails');
    }
  });
});

describe('npm run admin -- subscribers export', () => {
  it('writes the same CSV as the API to stdout, with a progress line on stderr', async () => {
    const listId = await ensureList('cli-export');
    await seed(
      listId,
      1200,
      (i) => `cli.${i}@example.com`,
      'confirmed',
      (i) => (i === 7 ? '@risky' : null),
    );
    await seed(listId, 2, (i) => `cli.pending.${i}@example.com`, 'pending');
    const env = { DATABASE_PATH: t.config.databasePath, SECRET: TEST_SECRET, PUBLIC_URL: 'http://optin.test' };
    const result = await runAdminCli(['subscribers', 'export', 'cli-export', '--status', 'confirmed'], env);
    expect(result.stderr).toMatch(/exported .*1200 rows\n$/);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(await (await api('/lists/cli-export/subscribers.csv?status=confirmed')).text());
    expect(result.stdout).toContain(",'@risky,");
    const pending = await runAdminCli(['subscribers', 'export', 'cli-export', '--status', 'pending', '--format', 'ndjson'], env);
    expect(
      pending.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Item).email),
    ).toEqual(['cli.pending.1@example.com', 'cli.pending.0@example.com']);
    const unknown = await runAdminCli(['subscribers', 'export', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown_list');
    // Its own time limit: three CLI processes start (tsx) one after the other.
  }, 90_000);
});
