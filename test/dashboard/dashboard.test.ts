import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardStats } from '../../src/features/dashboard/service.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, removeDataDir, startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service.js';

let t: TestService;
/** Counted on every request, so each assertion sees the change just made (the per-process cache has its own test). */
const FRESH = { STATS_COUNTS_MAX_AGE: '0' };
const dataDir = mkdtempSync(path.join(tmpdir(), 'optin-dashboard-'));
beforeAll(async () => {
  t = await startTestService({ dataDir, env: FRESH });
});
afterAll(async () => {
  await t?.stop();
  await removeDataDir(dataDir);
});

interface Stats {
  lists: { slug: string; counts: { pending: number; confirmed: number; unsubscribed: number } }[];
  days: { date: string; signups: number; confirmations: number; unsubscribes: number }[];
  confirmationRate: number | null;
}

async function stats(query = ''): Promise<Stats> {
  const res = await fetch(`${t.url}/admin/api/stats?${query}`, { headers: ADMIN_AUTH });
  expect(res.status).toBe(200);
  return (await res.json()) as Stats;
}

async function ensureList(slug: string): Promise<number> {
  return t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug, name: slug, createdAt: Date.now() }).onConflictDoNothing();
    return (await db.select().from(lists).where(eq(lists.slug, slug)))[0]!.id;
  });
}

/** Signs up (several at once share one group commit) and waits for each confirmation email. */
async function signUpAll(emails: readonly string[], list: string) {
  const before = new Map(emails.map((e) => [e, t.smtp.to(e).length]));
  const answers = await Promise.all(emails.map((email) => postJson(`${t.url}/subscribe`, { email, list })));
  expect(answers.map((a) => a.status)).toEqual(emails.map(() => 202));
  return Promise.all(emails.map((e) => waitFor(() => t.smtp.to(e)[before.get(e)!], 5000, 'confirmation')));
}

async function confirm(email: string, list: string): Promise<string> {
  const before = t.smtp.to(email).length;
  const [mail] = await signUpAll([email], list);
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(mail!, 'confirm')) })).status).toBe(200);
  return linkIn(await waitFor(() => t.smtp.to(email)[before + 1], 5000, 'welcome'), 'unsubscribe');
}

const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;
const today = () => new Date().toISOString().slice(0, 10);

describe('GET /admin/api/stats', () => {
  it('counts a known sequence of signups, confirmations and unsubscribes per list and day', async () => {
    await ensureList('dash');
    await ensureList('dash2');
    // Five signups in one go (one group commit), two of them confirmed, one of those leaves.
    const mails = await signUpAll(['d1@example.com', 'd2@example.com', 'd3@example.com', 'd4@example.com', 'd5@example.com'], 'dash');
    for (const mail of mails.slice(0, 2))
      expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(mail, 'confirm')) })).status).toBe(200);
    const d1Welcome = await waitFor(() => t.smtp.to('d1@example.com')[1], 5000, 'welcome');
    expect((await oneClick(local(linkIn(d1Welcome, 'unsubscribe')))).status).toBe(200);
    // One person on both lists leaves every list at once: an unsubscribe on each.
    await confirm('both@example.com', 'dash');
    const link = await confirm('both@example.com', 'dash2');
    expect((await postForm(local(link), { scope: 'all' })).status).toBe(200);
    // Its resubscribe restores what that link ended, both confirmed: a confirmation on each.
    expect((await postForm(`${t.url}/resubscribe?token=${tokenOf(link)}`, {})).status).toBe(200);

    const dash = await stats('list=dash&days=7');
    expect(dash.lists).toEqual([{ slug: 'dash', counts: { pending: 3, confirmed: 2, unsubscribed: 1 } }]);
    expect(dash.days).toHaveLength(7);
    expect(dash.days.at(-1)).toEqual({ date: today(), signups: 6, confirmations: 4, unsubscribes: 2, reminders: 0 });
    expect(dash.days.slice(0, -1).every((d) => d.signups + d.confirmations + d.unsubscribes === 0)).toBe(true);
    expect(dash.confirmationRate).toBe(0.6667);

    const dash2 = await stats('list=dash2');
    expect(dash2.lists).toEqual([{ slug: 'dash2', counts: { pending: 0, confirmed: 1, unsubscribed: 0 } }]);
    expect(dash2.days).toHaveLength(30);
    expect(dash2.days.at(-1)).toEqual({ date: today(), signups: 1, confirmations: 2, unsubscribes: 1, reminders: 0 });

    const all = await stats();
    expect(all.lists.map((l) => l.slug)).toEqual(expect.arrayContaining(['dash', 'dash2', 'default']));
    expect(all.days.at(-1)).toMatchObject({ signups: 7, confirmations: 6, unsubscribes: 3 });
  });

  it('refuses days outside 1–365 and an unknown list, and wants the admin token', async () => {
    for (const days of ['0', '366', 'x', '1.5']) {
      const res = await fetch(`${t.url}/admin/api/stats?days=${days}`, { headers: ADMIN_AUTH });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_days');
    }
    expect((await stats('days=365')).days).toHaveLength(365);
    expect((await stats('days=1')).days).toEqual([expect.objectContaining({ date: today() })]);
    const unknown = await fetch(`${t.url}/admin/api/stats?list=nope`, { headers: ADMIN_AUTH });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: 'unknown_list', message: expect.any(String) } });
    expect((await fetch(`${t.url}/admin/api/stats`)).status).toBe(401);
  });

  it('keeps the rollup across a restart, and rebuilds it from the consent trail once, idempotently', async () => {
    await ensureList('restart');
    const link = await confirm('r1@example.com', 'restart');
    await signUpAll(['r2@example.com'], 'restart');
    expect((await oneClick(local(link))).status).toBe(200);
    const expected = { date: today(), signups: 2, confirmations: 1, unsubscribes: 1, reminders: 0 };
    expect((await stats('list=restart')).days.at(-1)).toEqual(expected);

    await t.stop();
    t = await startTestService({ dataDir, env: FRESH });
    expect((await stats('list=restart')).days.at(-1)).toEqual(expected);

    // An installation from before the rollup: no rows yet, the data migration not run.
    const forget = async () => {
      await t.service.database.transaction(async ({ db, tables: { dailyListStats, dataMigrations } }) => {
        await db.delete(dailyListStats);
        await db.delete(dataMigrations).where(eq(dataMigrations.name, '0002_daily_list_stats'));
      });
      await t.stop();
      t = await startTestService({ dataDir, env: FRESH });
    };
    await forget();
    expect((await stats('list=restart')).days.at(-1)).toEqual(expected);
    // Run again over rows already there: the same numbers, not twice as many.
    await t.service.database.transaction(({ db, tables: { dataMigrations } }) =>
      db.delete(dataMigrations).where(eq(dataMigrations.name, '0002_daily_list_stats')),
    );
    await t.stop();
    t = await startTestService({ dataDir, env: FRESH });
    expect((await stats('list=restart')).days.at(-1)).toEqual(expected);
  });
});

describe('the per-process count cache (STATS_COUNTS_MAX_AGE)', () => {
  it('serves the last count while young, then the stale one while a new count runs, then the new one', async () => {
    const listId = await ensureList('cached');
    const { database } = t.service;
    const addPending = (email: string) =>
      database.transaction(async ({ db, tables: { contacts, subscriptions } }) => {
        const [contact] = await db
          .insert(contacts)
          .values({ email, emailKey: email, locale: 'en', createdAt: Date.now() })
          .returning({ id: contacts.id });
        await db.insert(subscriptions).values({ contactId: contact!.id, listId, status: 'pending', createdAt: Date.now() });
      });
    const pendingAt = async (now: number) =>
      (await dashboardStats(database, { list: 'cached', days: 1, countsMaxAgeMs: 1000 }, now)).lists[0]!.counts.pending;
    const start = Date.now();
    await addPending('cached.1@example.com');
    expect(await pendingAt(start)).toBe(1);
    await addPending('cached.2@example.com');
    expect(await pendingAt(start + 500)).toBe(1);
    // Older than the limit: the last count still answers at once, and a new count starts.
    expect(await pendingAt(start + 1500)).toBe(1);
    await waitFor(async () => (await pendingAt(start + 1600)) === 2, 5000, 'the new count');
  });
});

describe('the dashboard page', () => {
  it('opens /admin on every list, the rate, an accessible chart, the queue and failing webhooks', async () => {
    await ensureList('page');
    await confirm('p1@example.com', 'page');
    await t.service.database.transaction(({ db, tables: { webhookEndpoints } }) =>
      db.insert(webhookEndpoints).values({
        id: 'we_failing',
        url: 'https://receiver.example/hook',
        events: '[]',
        secret: 'whsec_x',
        enabled: false,
        disabledReason: 'failed for 24 hours',
        failingSince: Date.now() - 86_400_000,
        createdAt: Date.now(),
      }),
    );
    const signIn = await postForm(`${t.url}/admin/sign-in`, { token: TEST_ADMIN_TOKEN }, { origin: t.url });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('location')).toBe('/admin');
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const res = await fetch(`${t.url}/admin`, { headers: { cookie, accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<h1>Dashboard</h1>');
    expect(html).toMatch(
      /<a href="\/admin\/lists\/page">page<\/a><\/td><td data-label="Pending">0<\/td><td data-label="Confirmed">1<\/td><td data-label="Unsubscribed">0<\/td>/,
    );
    expect(html).toMatch(/Confirmation rate over the last 30 days: <strong>\d+%<\/strong>/);
    expect(html).toMatch(
      /<svg role="img" aria-labelledby="chart-title"[^>]*><title id="chart-title">\d+ signups?, \d+ confirmations?, \d+ unsubscribes? in the last 30 days/,
    );
    expect(html).not.toContain('<script');
    expect(html).toContain('<th>waiting</th>');
    expect(html).toContain('https://receiver.example/hook');
    expect(html).toContain('failed for 24 hours');

    // The list's own page: its subscribers, with the export links.
    const listPage = await (await fetch(`${t.url}/admin/lists/page`, { headers: { cookie, accept: 'text/html' } })).text();
    expect(listPage).toContain('p1@example.com');
    expect(listPage).toContain('href="/admin/api/lists/page/subscribers.csv?status=confirmed"');
    const download = await fetch(`${t.url}/admin/api/lists/page/subscribers.csv?status=confirmed`, { headers: { cookie } });
    expect(download.status).toBe(200);
    expect(await download.text()).toContain('p1@example.com');
    const unknown = await fetch(`${t.url}/admin/lists/nope`, { headers: { cookie, accept: 'text/html' } });
    expect(unknown.status).toBe(404);
  });
});
