import { readFileSync } from 'node:fs';
import path from 'node:path';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/platform/db/client.js';
import { createToken } from '../../src/platform/http/tokens.js';
import { runStatement } from '../support/database.js';
import { canary } from '../support/canary.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { TEST_ON_POSTGRES } from '../support/postgres.js';
import { startTestService, startWorkerBeside, TEST_SECRET, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

/** The path and query of a link from an email, against the test server. */
const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;

async function contactOf(emailKey: string) {
  const {
    db,
    tables: { contacts },
  } = t.service.database;
  return (await db.select().from(contacts).where(eq(contacts.emailKey, emailKey)))[0]!;
}
async function subscriptionsOf(emailKey: string) {
  const {
    db,
    tables: { subscriptions },
  } = t.service.database;
  return db
    .select()
    .from(subscriptions)
    .where(eq(subscriptions.contactId, (await contactOf(emailKey)).id))
    .orderBy(subscriptions.id);
}
function suppressionsOf(emailKey: string) {
  const {
    db,
    tables: { suppressions },
  } = t.service.database;
  return db.select().from(suppressions).where(eq(suppressions.email, emailKey)).orderBy(suppressions.id);
}
async function trailOf(emailKey: string) {
  const {
    db,
    tables: { consentEvents },
  } = t.service.database;
  return db
    .select()
    .from(consentEvents)
    .where(eq(consentEvents.contactId, (await contactOf(emailKey)).id))
    .orderBy(consentEvents.id);
}
/** The list's id, made if it is not there yet. */
async function ensureList(slug: string, name: string): Promise<number> {
  return t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug, name, createdAt: Date.now() }).onConflictDoNothing();
    return (await db.select().from(lists).where(eq(lists.slug, slug)))[0]!.id;
  });
}

/** Signs up and confirms; returns the welcome email's unsubscribe link. */
async function confirmedSubscriber(email: string, list = 'default'): Promise<string> {
  const before = t.smtp.to(email).length;
  expect((await postJson(`${t.url}/subscribe`, { email, list })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[before], 5000, 'confirmation');
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  const welcome = await waitFor(() => t.smtp.to(email)[before + 1], 5000, 'welcome');
  return linkIn(welcome, 'unsubscribe');
}

describe('one-click unsubscribe (RFC 8058)', () => {
  it('unsubscribes with an urlencoded one-click POST, answers 200 without a redirect, and never mails again in any case', async () => {
    const link = await confirmedSubscriber('one.click@example.com');
    const res = await oneClick(local(link), { 'user-agent': 'MailClient/1.0' });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('You are unsubscribed');

    expect((await subscriptionsOf('one.click@example.com')).map((s) => s.status)).toEqual(['unsubscribed']);
    const entries = await suppressionsOf('one.click@example.com');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ reason: 'unsubscribed', listId: 1, domain: 'example.com', source: 'unsubscribe link' });
    const trail = await trailOf('one.click@example.com');
    expect(trail.map((e) => e.action)).toEqual(['subscribe_requested', 'confirmed', 'unsubscribed']);
    expect(trail[2]).toMatchObject({ listId: 1, userAgent: 'MailClient/1.0', ip: expect.stringMatching(/127\.0\.0\.1/) });

    // Signing up again, in another letter case, answers as always and sends nothing.
    const sent = t.smtp.to('one.click@example.com').length;
    const again = await postJson(`${t.url}/subscribe`, { email: 'ONE.Click@EXAMPLE.com' });
    expect(again.status).toBe(202);
    await canary(t);
    expect(t.smtp.to('one.click@example.com')).toHaveLength(sent);
    expect((await subscriptionsOf('one.click@example.com')).map((s) => s.status)).toEqual(['unsubscribed']);

    // A second one-click changes nothing and still answers 200.
    const twice = await oneClick(local(link));
    expect(twice.status).toBe(200);
    expect(await suppressionsOf('one.click@example.com')).toHaveLength(1);
  });

  it('unsubscribes with a multipart/form-data one-click POST', async () => {
    const link = await confirmedSubscriber('multipart@example.com');
    const form = new FormData();
    form.append('List-Unsubscribe', 'One-Click');
    const res = await fetch(local(link), { method: 'POST', body: form, redirect: 'manual' });
    expect(res.status).toBe(200);
    expect((await subscriptionsOf('multipart@example.com')).map((s) => s.status)).toEqual(['unsubscribed']);
    expect(await suppressionsOf('multipart@example.com')).toHaveLength(1);
  });

  it('refuses a tampered or wrong-purpose token with a 4xx and changes nothing', async () => {
    const link = await confirmedSubscriber('tampered-unsub@example.com');
    const token = tokenOf(link);
    const tampered = token.slice(0, -3) + (token.endsWith('abc') ? 'xyz' : 'abc');
    const confirmToken = createToken([TEST_SECRET], {
      purpose: 'confirm',
      subscriptionId: (await subscriptionsOf('tampered-unsub@example.com'))[0]!.id,
      expiresAt: 0,
    });
    for (const bad of [tampered, confirmToken, '']) {
      const post = await oneClick(`${t.url}/unsubscribe?token=${encodeURIComponent(bad)}`);
      expect(post.status).toBe(400);
      const get = await fetch(`${t.url}/unsubscribe?token=${encodeURIComponent(bad)}`);
      expect(get.status).toBe(400);
    }
    expect((await subscriptionsOf('tampered-unsub@example.com')).map((s) => s.status)).toEqual(['confirmed']);
  });
});

describe('the unsubscribe page', () => {
  it('GET shows a button and changes nothing; the form posts to the same URL; "all lists" and the resubscribe undo work', async () => {
    await ensureList('offers', 'Offers');
    await confirmedSubscriber('page@example.com', 'offers');
    const link = await confirmedSubscriber('page@example.com');

    const page = await fetch(local(link));
    expect(page.status).toBe(200);
    const html = await page.text();
    const action = `/unsubscribe?token=${tokenOf(link)}`;
    expect(html).toContain(`<form method="post" action="${action}">`);
    expect(html).toContain('Unsubscribe from Newsletter');
    expect(html).toContain('name="scope" value="all"');
    expect((await subscriptionsOf('page@example.com')).map((s) => s.status)).toEqual(['confirmed', 'confirmed']);
    expect(await suppressionsOf('page@example.com')).toHaveLength(0);
    expect((await trailOf('page@example.com')).filter((e) => e.action === 'unsubscribed')).toHaveLength(0);

    const done = await postForm(`${t.url}${action}`, { scope: 'all' });
    expect(done.status).toBe(200);
    const donePage = await done.text();
    expect(donePage).toContain('no longer receive any mail');
    expect(donePage).toContain(`action="/resubscribe?token=${tokenOf(link)}"`);
    expect(donePage).toContain('I unsubscribed by mistake');
    expect((await subscriptionsOf('page@example.com')).map((s) => s.status)).toEqual(['unsubscribed', 'unsubscribed']);
    expect((await suppressionsOf('page@example.com')).map((s) => s.listId)).toEqual([null]);
    expect(
      (await trailOf('page@example.com'))
        .filter((e) => e.action === 'unsubscribed')
        .map((e) => e.listId)
        .sort(),
    ).toEqual([1, 2]);

    // After the opt-out, the GET page offers only the undo.
    const after = await (await fetch(local(link))).text();
    expect(after).toContain(`action="/resubscribe?token=${tokenOf(link)}"`);

    // The undo needs the same signed token.
    const forged = await postForm(`${t.url}/resubscribe?token=nonsense`, {});
    expect(forged.status).toBe(400);
    const undo = await postForm(`${t.url}/resubscribe?token=${tokenOf(link)}`, {});
    expect(undo.status).toBe(200);
    expect(await undo.text()).toContain('active again');
    expect((await subscriptionsOf('page@example.com')).map((s) => s.status)).toEqual(['confirmed', 'confirmed']);
    expect(await suppressionsOf('page@example.com')).toHaveLength(0);
    expect((await trailOf('page@example.com')).filter((e) => e.action === 'resubscribed')).toHaveLength(2);
  });

  it('the undo does not lift a block the person did not make', async () => {
    const link = await confirmedSubscriber('blocked-undo@example.com');
    expect((await oneClick(local(link))).status).toBe(200);
    const admin = await postJson(
      `${t.url}/admin/api/suppressions`,
      { email: 'blocked-undo@example.com', reason: 'complained' },
      { authorization: `Bearer ${t.config.adminToken}` },
    );
    expect(admin.status).toBe(201);
    const undo = await postJson(`${t.url}/resubscribe?token=${tokenOf(link)}`, {});
    expect(undo.status).toBe(409);
    expect(await undo.json()).toEqual({ error: { code: 'address_blocked', message: expect.any(String) } });
    expect((await subscriptionsOf('blocked-undo@example.com')).map((s) => s.status)).toEqual(['unsubscribed']);
    expect((await suppressionsOf('blocked-undo@example.com')).map((s) => s.reason).sort()).toEqual(['complained', 'unsubscribed']);
  });
});

describe('resubscribe lifts exactly what its own unsubscribe did', () => {
  const statusByList = async (email: string) => Object.fromEntries((await subscriptionsOf(email)).map((s) => [s.listId, s.status]));
  const scopesOf = async (email: string) => (await suppressionsOf(email)).map((s) => s.listId).sort();

  it('does not lift a later "every list" opt-out made from another link: 409, and a signup to any list sends nothing', async () => {
    const weekly = await ensureList('weekly', 'Weekly');
    const other = await ensureList('other', 'Other');
    const email = 'wider.later@example.com';
    const defaultLink = await confirmedSubscriber(email);
    const weeklyLink = await confirmedSubscriber(email, 'weekly');

    expect((await postForm(local(defaultLink), { scope: 'list' })).status).toBe(200);
    expect((await postForm(local(weeklyLink), { scope: 'all' })).status).toBe(200);
    expect(await scopesOf(email)).toEqual([1, null].sort());

    // The default page's undo: its own opt-out is covered by the later, wider one.
    const undo = await postJson(`${t.url}/resubscribe?token=${tokenOf(defaultLink)}`, {});
    expect(undo.status).toBe(409);
    expect(await undo.json()).toEqual({ error: { code: 'address_blocked', message: expect.any(String) } });
    const page = await postForm(`${t.url}/resubscribe?token=${tokenOf(defaultLink)}`, {});
    expect(page.status).toBe(409);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await statusByList(email)).toEqual({ 1: 'unsubscribed', [weekly]: 'unsubscribed' });
    expect(await scopesOf(email)).toEqual([1, null].sort());
    expect((await trailOf(email)).filter((e) => e.action === 'resubscribed')).toHaveLength(0);

    // A stranger's signups to weekly, or to any other list, mail nothing.
    const sent = t.smtp.to(email).length;
    for (const list of ['weekly', 'other', 'default']) expect((await postJson(`${t.url}/subscribe`, { email, list })).status).toBe(202);
    await canary(t);
    expect(t.smtp.to(email)).toHaveLength(sent);
    expect((await subscriptionsOf(email)).some((s) => s.listId === other)).toBe(false);
  });

  it('the "every list" link undoes its own opt-out and restores only what it ended; the earlier list opt-out stands', async () => {
    const weekly = await ensureList('weekly', 'Weekly');
    const offers = await ensureList('offers', 'Offers');
    const email = 'undo.wider@example.com';
    const defaultLink = await confirmedSubscriber(email);
    const weeklyLink = await confirmedSubscriber(email, 'weekly');
    await confirmedSubscriber(email, 'offers');

    expect((await oneClick(local(defaultLink))).status).toBe(200);
    expect((await postForm(local(weeklyLink), { scope: 'all' })).status).toBe(200);
    expect(await statusByList(email)).toEqual({ 1: 'unsubscribed', [weekly]: 'unsubscribed', [offers]: 'unsubscribed' });

    const undo = await postJson(`${t.url}/resubscribe?token=${tokenOf(weeklyLink)}`, {});
    expect(undo.status).toBe(200);
    expect(await undo.json()).toEqual({ status: 'confirmed', list: 'Weekly' });
    expect(await statusByList(email)).toEqual({ 1: 'unsubscribed', [weekly]: 'confirmed', [offers]: 'confirmed' });
    expect(await suppressionsOf(email)).toMatchObject([{ listId: 1, reason: 'unsubscribed', source: 'unsubscribe link' }]);

    // The default opt-out still holds: a signup to it sends nothing.
    const sent = t.smtp.to(email).length;
    expect((await postJson(`${t.url}/subscribe`, { email, list: 'default' })).status).toBe(202);
    await canary(t);
    expect(t.smtp.to(email)).toHaveLength(sent);

    // Its own link undoes it, and only it.
    const own = await postJson(`${t.url}/resubscribe?token=${tokenOf(defaultLink)}`, {});
    expect(own.status).toBe(200);
    expect(await statusByList(email)).toEqual({ 1: 'confirmed', [weekly]: 'confirmed', [offers]: 'confirmed' });
    expect(await suppressionsOf(email)).toHaveLength(0);
  });

  it('a link whose subscription another link\'s "every list" ended lifts nothing: 409 until that link undoes it', async () => {
    const weekly = await ensureList('weekly', 'Weekly');
    const email = 'ended.by.other@example.com';
    const defaultLink = await confirmedSubscriber(email);
    const weeklyLink = await confirmedSubscriber(email, 'weekly');
    expect((await postForm(local(weeklyLink), { scope: 'all' })).status).toBe(200);
    expect(await statusByList(email)).toEqual({ 1: 'unsubscribed', [weekly]: 'unsubscribed' });

    expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(defaultLink)}`, {})).status).toBe(409);
    expect(await scopesOf(email)).toEqual([null]);
    expect(await statusByList(email)).toEqual({ 1: 'unsubscribed', [weekly]: 'unsubscribed' });

    expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(weeklyLink)}`, {})).status).toBe(200);
    expect(await statusByList(email)).toEqual({ 1: 'confirmed', [weekly]: 'confirmed' });
    expect(await suppressionsOf(email)).toHaveLength(0);
  });
});

describe('an opt-out made again on the same entry', () => {
  it("an admin block in the link's scope is an entry of its own: the link's undo cannot lift it", async () => {
    const email = 'same.entry@example.com';
    const link = await confirmedSubscriber(email);
    expect((await postForm(local(link), { scope: 'all' })).status).toBe(200);
    // The same scope as the link's entry, another reason: a fact of its own beside the opt-out.
    const admin = await postJson(
      `${t.url}/admin/api/suppressions`,
      { email, reason: 'manual' },
      { authorization: `Bearer ${t.config.adminToken}` },
    );
    expect(admin.status).toBeLessThan(300);
    const undo = await postJson(`${t.url}/resubscribe?token=${tokenOf(link)}`, {});
    expect(undo.status).toBe(409);
    expect((await suppressionsOf(email)).map((s) => [s.listId, s.reason]).sort()).toEqual([
      [null, 'manual'],
      [null, 'unsubscribed'],
    ]);
    expect((await subscriptionsOf(email)).map((s) => s.status)).toEqual(['unsubscribed']);
  });
});

// SQLite only: it replays a data migration of SQLite installations made before links were noted.
// PostgreSQL databases start with these columns filled by the code (migrations/pg has no such step).
describe.skipIf(TEST_ON_POSTGRES)('opt-outs recorded before links were noted (migration)', () => {
  /** Runs the data migration again, on rows made to look as they did before it. */
  async function runLegacyMigration() {
    const migration = readFileSync(path.join(MIGRATIONS_FOLDER, '0004_keep_only_confirmed_names_and_tag_list_opt_outs.sql'), 'utf8');
    await t.service.database.transaction(async (tx) => {
      for (const statement of migration.split('--> statement-breakpoint')) await runStatement(tx, statement);
    });
  }

  it('a one-list opt-out stays undoable from its link; an "every list" one only an admin lifts', async () => {
    await ensureList('legacy', 'Legacy');
    const oneList = await confirmedSubscriber('legacy.one@example.com');
    const everyList = await confirmedSubscriber('legacy.all@example.com', 'legacy');
    expect((await oneClick(local(oneList))).status).toBe(200);
    expect((await postForm(local(everyList), { scope: 'all' })).status).toBe(200);
    // As rows written before this change look: no link noted anywhere.
    const legacy = ['legacy.one@example.com', 'legacy.all@example.com'];
    const contactIds = await Promise.all(legacy.map(async (email) => (await contactOf(email)).id));
    await t.service.database.transaction(async ({ db, tables: { subscriptions, suppressions } }) => {
      await db.update(suppressions).set({ createdByLink: null }).where(inArray(suppressions.email, legacy));
      await db.update(subscriptions).set({ endedByLink: null }).where(inArray(subscriptions.contactId, contactIds));
    });

    await runLegacyMigration();

    expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(oneList)}`, {})).status).toBe(200);
    expect((await subscriptionsOf('legacy.one@example.com')).map((s) => s.status)).toEqual(['confirmed']);
    expect(await suppressionsOf('legacy.one@example.com')).toHaveLength(0);
    expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(everyList)}`, {})).status).toBe(409);
    expect((await suppressionsOf('legacy.all@example.com')).map((s) => s.listId)).toEqual([null]);
  });

  it("keeps a contact's name only when the request it came with was confirmed", async () => {
    await confirmedSubscriber('legacy.named@example.com');
    await postJson(`${t.url}/subscribe`, { email: 'legacy.unconfirmed@example.com' });
    // Before this change, the first signup's name went straight onto the contact.
    await t.service.database.transaction(async ({ db, tables: { contacts } }) => {
      await db.update(contacts).set({ name: 'Named' }).where(eq(contacts.emailKey, 'legacy.named@example.com'));
      await db.update(contacts).set({ name: 'Anyone' }).where(eq(contacts.emailKey, 'legacy.unconfirmed@example.com'));
    });

    await runLegacyMigration();

    expect((await contactOf('legacy.named@example.com')).name).toBe('Named');
    expect((await contactOf('legacy.unconfirmed@example.com')).name).toBeNull();
  });
});

describe('"not me" from the confirmation email', () => {
  it('drops the pending subscription, suppresses the address, and the confirm link stops working', async () => {
    await postJson(`${t.url}/subscribe`, { email: 'not.me@example.com' });
    const confirmation = await waitFor(() => t.smtp.to('not.me@example.com')[0], 5000, 'confirmation');
    const unsubscribeLink = linkIn(confirmation, 'unsubscribe');
    expect(confirmation.parsed.text).toContain('tell us it was not you');

    const page = await (await fetch(local(unsubscribeLink))).text();
    expect(page).toContain('It was not me');
    expect((await subscriptionsOf('not.me@example.com')).map((s) => s.status)).toEqual(['pending']);

    const res = await postForm(local(unsubscribeLink), {});
    expect(res.status).toBe(200);
    expect((await subscriptionsOf('not.me@example.com')).map((s) => s.status)).toEqual(['unsubscribed']);
    expect(await suppressionsOf('not.me@example.com')).toMatchObject([
      { listId: null, reason: 'unsubscribed', source: 'not me (confirmation email)' },
    ]);
    expect((await trailOf('not.me@example.com')).map((e) => e.action)).toEqual(['subscribe_requested', 'not_me']);

    const confirm = await postJson(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) });
    expect(confirm.status).toBe(409);
    expect((await subscriptionsOf('not.me@example.com')).map((s) => s.status)).toEqual(['unsubscribed']);

    await postJson(`${t.url}/subscribe`, { email: 'Not.Me@example.com' });
    await canary(t);
    expect(t.smtp.to('not.me@example.com')).toHaveLength(1);
  });
});

describe('what signup reveals', () => {
  it('answers byte for byte the same for new, confirmed and suppressed addresses', async () => {
    await confirmedSubscriber('reveal-confirmed@example.com');
    const link = await confirmedSubscriber('reveal-suppressed@example.com');
    expect((await oneClick(local(link))).status).toBe(200);
    const answer = async (email: string) => {
      const json = await postJson(`${t.url}/subscribe`, { email });
      const form = await postForm(`${t.url}/subscribe`, { email });
      return JSON.stringify([
        json.status,
        json.headers.get('content-type'),
        await json.text(),
        form.status,
        form.headers.get('location'),
        await form.text(),
      ]);
    };
    const answers = [
      await answer('reveal-new@example.com'),
      await answer('Reveal-Confirmed@example.com'),
      await answer('REVEAL-SUPPRESSED@example.com'),
    ];
    expect(answers[0]).toContain('202');
    expect(answers[1]).toBe(answers[0]);
    expect(answers[2]).toBe(answers[0]);
    await canary(t);
    expect(t.smtp.to('reveal-suppressed@example.com')).toHaveLength(2);
  });

  it('keeps blocking an address by its keyed hash after the address itself is erased from the entry', async () => {
    const link = await confirmedSubscriber('erased@example.com');
    expect((await oneClick(local(link))).status).toBe(200);
    const contact = await contactOf('erased@example.com');
    await t.service.database.transaction(async ({ db, tables: { consentEvents, contacts, suppressions } }) => {
      await db.update(suppressions).set({ email: null, domain: null }).where(eq(suppressions.email, 'erased@example.com'));
      // As an erasure would: the trail goes with the person (the log is append-only, so deleted rather than detached).
      await db.delete(consentEvents).where(eq(consentEvents.contactId, contact.id));
      await db.delete(contacts).where(eq(contacts.id, contact.id));
    });
    expect((await postJson(`${t.url}/subscribe`, { email: 'Erased@Example.com' })).status).toBe(202);
    await canary(t);
    expect(t.smtp.to('erased@example.com')).toHaveLength(2);
    const {
      db,
      tables: { contacts },
    } = t.service.database;
    expect(await db.select().from(contacts).where(eq(contacts.emailKey, 'erased@example.com'))).toEqual([]);
  });
});

describe('an opt-out landing while mail is queued', () => {
  it('stops the queued send: the worker asks the mail policy again right before SMTP', async () => {
    const api = await startTestService({ roles: ['api'] });
    try {
      expect((await postJson(`${api.url}/subscribe`, { email: 'queued@example.com' })).status).toBe(202);
      const {
        db,
        tables: { outbox, subscriptions },
      } = api.service.database;
      const [subscription] = await db.select().from(subscriptions);
      // Both messages, in the order they were written (a tie in the same millisecond: 'confirmation' < 'welcome').
      const outboxRows = () => db.select().from(outbox).orderBy(outbox.createdAt, outbox.kind);
      // What the confirmation email would carry; the worker is not running, so nothing was sent.
      const confirmToken = createToken([TEST_SECRET], {
        purpose: 'confirm',
        subscriptionId: subscription!.id,
        expiresAt: Date.now() + 60_000,
      });
      expect((await postForm(`${api.url}/confirm`, { token: confirmToken })).status).toBe(200);
      expect((await outboxRows()).map((r) => [r.kind, r.status])).toEqual([
        ['confirmation', 'queued'],
        ['welcome', 'queued'],
      ]);

      const unsubscribeToken = createToken([TEST_SECRET], { purpose: 'unsubscribe', subscriptionId: subscription!.id, expiresAt: 0 });
      const res = await oneClick(`${api.url}/unsubscribe?token=${unsubscribeToken}`);
      expect(res.status).toBe(200);

      const worker = await startWorkerBeside(api);
      try {
        const rows = await waitFor(
          async () => {
            const all = await outboxRows();
            return all.every((r) => r.status !== 'queued') ? all : undefined;
          },
          5000,
          'the worker to take both messages',
        );
        expect(rows.map((r) => [r.kind, r.status, r.lastError])).toEqual([
          ['confirmation', 'dropped', 'suppressed:unsubscribed'],
          ['welcome', 'dropped', 'suppressed:unsubscribed'],
        ]);
        expect(api.smtp.messages).toHaveLength(0);
      } finally {
        await worker.stop();
      }
    } finally {
      await api.stop();
    }
  });

  it('sends nothing while the suppression check cannot be made (fail closed), and retries', async () => {
    const api = await startTestService({ roles: ['api'] });
    try {
      expect((await postJson(`${api.url}/subscribe`, { email: 'fail-closed@example.com' })).status).toBe(202);
      const database = api.service.database;
      const {
        db,
        tables: { outbox },
      } = database;
      const [row] = await db.select().from(outbox);
      const statusOf = async (id: string) => (await db.select().from(outbox).where(eq(outbox.id, id)))[0]!.status;
      // A real database error on the policy's own query: its table is briefly missing.
      await database.transaction((tx) => runStatement(tx, 'ALTER TABLE suppressions RENAME TO suppressions_away'));
      const worker = await startWorkerBeside(api, { SEND_BACKOFF_MS: '300' });
      try {
        await waitFor(async () => ((await api.service.queue.queue.getJob(row!.id))?.attemptsMade ?? 0) >= 1, 5000, 'a failed attempt');
        expect(api.smtp.messages).toHaveLength(0);
        expect(await statusOf(row!.id)).toBe('queued');

        await database.transaction((tx) => runStatement(tx, 'ALTER TABLE suppressions_away RENAME TO suppressions'));
        await waitFor(() => api.smtp.to('fail-closed@example.com')[0], 10_000, 'the retried send');
        // The worker marks the row after the SMTP server took the message: wait for that commit.
        await waitFor(async () => (await statusOf(row!.id)) === 'sent', 5000, 'the row marked sent');
        expect(api.smtp.to('fail-closed@example.com')).toHaveLength(1);
      } finally {
        await worker.stop();
      }
    } finally {
      await api.stop();
    }
  });
});
