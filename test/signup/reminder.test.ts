import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary } from '../support/canary.js';
import { ADMIN_AUTH, startTestService, startWorkerBeside, type TestService } from '../support/service.js';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';

/**
 * The one reminder (issue 23): a request still unconfirmed CONFIRM_REMINDER_AFTER after it was
 * made gets exactly one, sent by the sweep through the gate, with a working confirm link; none
 * after "not me", a suppression or an erasure; none twice with two worker processes.
 */
const REMIND = { CONFIRM_REMINDER_AFTER: '1s', SWEEP_INTERVAL: '200ms' };

let t: TestService;
let second: TestService;
beforeAll(async () => {
  t = await startTestService({ env: REMIND });
  // A second worker process on the same database and queue: the sweep runs in both.
  second = await startWorkerBeside(t, REMIND);
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values({ slug: 'quiet', name: 'Quiet list', createdAt: Date.now(), remindUnconfirmed: false });
  });
});
afterAll(async () => {
  await second?.stop();
  await t?.stop();
});

const kindOf = (m: { header(name: string): string | undefined }) => /:(\w+):/.exec(m.header('feedback-id') ?? '')?.[1];
const mailsOf = (email: string, kind: string) => t.smtp.to(email).filter((m) => kindOf(m) === kind);

async function signup(email: string, list = 'default', locale = 'en') {
  expect((await postJson(`${t.url}/subscribe`, { email, list, locale })).status).toBe(202);
  return waitFor(() => mailsOf(email, 'confirmation')[0], 5000, 'confirmation');
}

/**
 * A canary request made after the acts: once its own reminder has arrived, the sweep has passed
 * every request due before it (it takes them in order), and the canary then waits for the outbox.
 */
async function pastTheReminders(): Promise<void> {
  const email = `remind.canary.${Math.random().toString(36).slice(2)}@example.com`;
  await signup(email);
  await waitFor(() => mailsOf(email, 'reminder')[0], 10_000, 'the canary request’s reminder');
  await canary(t);
}

describe('the one reminder', () => {
  it('is sent once per request, in the person’s language, with a confirm link that works', async () => {
    await signup('remind.me@example.com', 'default', 'fr');
    const reminder = await waitFor(() => mailsOf('remind.me@example.com', 'reminder')[0], 10_000, 'reminder');
    expect(reminder.parsed.subject).toMatch(/^Rappel\u00a0: confirmez votre inscription à /);
    expect(reminder.parsed.text).toContain('C’est le seul rappel que nous envoyons');
    await pastTheReminders();
    expect(mailsOf('remind.me@example.com', 'reminder')).toHaveLength(1);
    expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(reminder, 'confirm')) })).status).toBe(200);
    await waitFor(() => mailsOf('remind.me@example.com', 'welcome')[0], 5000, 'welcome');

    const stats = (await (await fetch(`${t.url}/admin/api/stats?list=default&days=1`, { headers: ADMIN_AUTH })).json()) as {
      days: { reminders: number }[];
    };
    expect(stats.days.at(-1)!.reminders).toBeGreaterThanOrEqual(1);
  });

  it('is never sent after "not me", a suppression, or an erasure, nor on a list that sends none', async () => {
    const notMe = await signup('remind.notme@example.com');
    expect(
      (
        await postForm(`${t.url}${new URL(linkIn(notMe, 'unsubscribe')).pathname}${new URL(linkIn(notMe, 'unsubscribe')).search}`, {
          scope: 'list',
        })
      ).status,
    ).toBe(200);
    await signup('remind.blocked@example.com');
    expect(
      (await postJson(`${t.url}/admin/api/suppressions`, { email: 'remind.blocked@example.com', reason: 'manual' }, ADMIN_AUTH)).status,
    ).toBe(201);
    await signup('remind.erased@example.com');
    expect((await fetch(`${t.url}/admin/api/contacts/remind.erased%40example.com`, { method: 'DELETE', headers: ADMIN_AUTH })).status).toBe(
      204,
    );
    await signup('remind.quiet@example.com', 'quiet');

    await pastTheReminders();
    for (const email of [
      'remind.notme@example.com',
      'remind.blocked@example.com',
      'remind.erased@example.com',
      'remind.quiet@example.com',
    ]) {
      expect(mailsOf(email, 'reminder'), email).toEqual([]);
    }
  });

  it('is one outbox row per request, whatever the number of processes sweeping', async () => {
    const emails = Array.from({ length: 12 }, (_, i) => `remind.many${i}@example.com`);
    for (const email of emails) await signup(email);
    await waitFor(() => emails.every((email) => mailsOf(email, 'reminder').length > 0), 10_000, 'every reminder');
    await pastTheReminders();
    for (const email of emails) expect(mailsOf(email, 'reminder'), email).toHaveLength(1);
    const { db, tables } = t.service.database;
    const rows = await db.select().from(tables.outbox).where(eq(tables.outbox.kind, 'reminder'));
    expect(new Set(rows.map((r) => r.subscriptionId)).size).toBe(rows.length);
  });
});
