import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../../src/platform/db/database.js';
import { domainOf } from '../../src/platform/mail/address.js';
import { eraseContact } from '../../src/features/subscribers/erasure.js';
import { GOODBYE_WINDOW_MS, mayMail } from '../../src/features/policy/service.js';
import { suppressAddress } from '../../src/features/policy/suppressions.js';
import { createToken } from '../../src/platform/http/tokens.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, startWorkerBeside, TEST_SECRET, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';

/*
 * The goodbye mail: the one mail an opted-out address may get, once, right after its own opt-out
 * made on the page. The API-only service writes the rows; the gate (mayMail) is asked about them
 * directly, and a worker started beside it shows what reaches the SMTP sink.
 */

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'] });
  for (const [slug, goodbyeEmail] of [
    ['bye', true],
    ['quiet', false],
  ] as const) {
    const res = await postJson(
      `${t.url}/admin/api/lists`,
      { slug, name: { en: 'Bye news', fr: 'Les nouvelles' }, goodbyeEmail },
      ADMIN_AUTH,
    );
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await t?.stop();
});

/** The service's database handle, for reading what it wrote. */
const db = () => t.service.database.db;

/** Signs up and confirms through the public pages; returns the unsubscribe token of the confirmation email. */
async function subscribed(email: string, list = 'bye'): Promise<string> {
  expect((await postJson(`${t.url}/subscribe`, { email, list })).status).toBe(202);
  const subscription = await waitFor(() => subscriptionOf(email, list), 5000, 'the subscription');
  const { outbox } = t.service.database.tables;
  // No worker here: the confirm link is made from the row, as the mail would carry it.
  const token = createToken([TEST_SECRET], {
    purpose: 'confirm',
    subscriptionId: subscription.id,
    expiresAt: subscription.confirmExpiresAt!,
  });
  expect((await postForm(`${t.url}/confirm`, { token })).status).toBe(200);
  expect(
    (
      await db()
        .select()
        .from(outbox)
        .where(and(eq(outbox.subscriptionId, subscription.id), eq(outbox.kind, 'welcome')))
    ).length,
  ).toBe(1);
  return createToken([TEST_SECRET], { purpose: 'unsubscribe', subscriptionId: subscription.id, expiresAt: 0 });
}

async function subscriptionOf(email: string, list: string): Promise<Row<'subscriptions'> | undefined> {
  const { contacts, lists, subscriptions } = t.service.database.tables;
  const [row] = await db()
    .select({ subscription: subscriptions })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .innerJoin(lists, eq(lists.id, subscriptions.listId))
    .where(and(eq(contacts.emailKey, email), eq(lists.slug, list)));
  return row?.subscription;
}

async function goodbyeRows(email: string, list = 'bye') {
  const { outbox } = t.service.database.tables;
  const subscription = await subscriptionOf(email, list);
  return subscription
    ? db()
        .select()
        .from(outbox)
        .where(and(eq(outbox.subscriptionId, subscription.id), eq(outbox.kind, 'goodbye')))
    : [];
}

const unsubscribeFromPage = (token: string, scope: 'list' | 'all' = 'list') => postForm(`${t.url}/unsubscribe?token=${token}`, { scope });

/** What the worker's gate says about a goodbye row, at `now`. */
async function gate(email: string, row: Row<'outbox'>, now = Date.now(), list = 'bye') {
  const subscription = (await subscriptionOf(email, list))!;
  return mayMail(t.service.database, [TEST_SECRET], {
    emailKey: email,
    listId: subscription.listId,
    kind: 'goodbye',
    subscriptionStatus: subscription.status,
    confirmExpiresAt: null,
    goodbye: { subscriptionId: subscription.id, unsubscribedAt: subscription.unsubscribedAt, requestedAt: row.createdAt },
    now,
  });
}

describe('the goodbye mail', () => {
  it('is written once for an unsubscribe on the page, never again for a second click, and only for lists that want it', async () => {
    const email = 'leaving@example.com';
    const token = await subscribed(email);
    expect((await unsubscribeFromPage(token)).status).toBe(200);
    const [row, ...more] = await goodbyeRows(email);
    expect(more).toEqual([]);
    expect(row).toMatchObject({ kind: 'goodbye', status: 'queued' });
    expect(row!.createdAt).toBe((await subscriptionOf(email, 'bye'))!.unsubscribedAt);
    expect(await gate(email, row!)).toEqual({ allowed: true });

    expect((await unsubscribeFromPage(token)).status).toBe(200);
    expect((await unsubscribeFromPage(token, 'all')).status).toBe(200);
    expect(await goodbyeRows(email)).toHaveLength(1);

    const quiet = 'quiet-leaver@example.com';
    expect((await unsubscribeFromPage(await subscribed(quiet, 'quiet'))).status).toBe(200);
    expect(await goodbyeRows(quiet, 'quiet')).toEqual([]);
  });

  it('is written for an unsubscribe from every list on the page too (one, for the link’s list)', async () => {
    const email = 'leaving-all@example.com';
    await subscribed(email, 'quiet');
    expect((await unsubscribeFromPage(await subscribed(email), 'all')).status).toBe(200);
    const [row] = await goodbyeRows(email);
    expect(await gate(email, row!)).toEqual({ allowed: true });
    expect(await goodbyeRows(email, 'quiet')).toEqual([]);
  });

  it('is never written for RFC 8058 one-click (a mail client may send it on its own), nor for "not me"', async () => {
    const email = 'one-click@example.com';
    expect((await oneClick(`${t.url}/unsubscribe?token=${await subscribed(email)}`)).status).toBe(200);
    expect((await subscriptionOf(email, 'bye'))!.status).toBe('unsubscribed');
    expect(await goodbyeRows(email)).toEqual([]);

    const stranger = 'not-me@example.com';
    expect((await postJson(`${t.url}/subscribe`, { email: stranger, list: 'bye' })).status).toBe(202);
    const pending = await waitFor(() => subscriptionOf(stranger, 'bye'));
    const token = createToken([TEST_SECRET], { purpose: 'unsubscribe', subscriptionId: pending.id, expiresAt: 0 });
    expect((await unsubscribeFromPage(token)).status).toBe(200);
    expect((await subscriptionOf(stranger, 'bye'))!.status).toBe('unsubscribed');
    expect(await goodbyeRows(stranger)).toEqual([]);
  });

  it('is refused by the gate outside its window, for a row not written by that opt-out, and once the person is back', async () => {
    const email = 'window@example.com';
    const token = await subscribed(email);
    expect((await unsubscribeFromPage(token)).status).toBe(200);
    const [row] = await goodbyeRows(email);
    const at = (await subscriptionOf(email, 'bye'))!.unsubscribedAt!;
    expect(await gate(email, row!, at + GOODBYE_WINDOW_MS)).toEqual({ allowed: true });
    expect(await gate(email, row!, at + GOODBYE_WINDOW_MS + 1)).toEqual({ allowed: false, reason: 'goodbye_window_passed' });
    expect(await gate(email, { ...row!, createdAt: at - 1 })).toEqual({ allowed: false, reason: 'goodbye_not_of_this_opt_out' });

    expect((await postForm(`${t.url}/resubscribe?token=${token}`, {})).status).toBe(200);
    expect(await gate(email, row!)).toEqual({ allowed: false, reason: 'not_unsubscribed' });
  });

  it('is refused by the gate once a bounce, a complaint, an admin block or another link’s "every list" opt-out covers the address', async () => {
    const blockers: [string, (email: string) => Promise<unknown>, string][] = [
      [
        'bounced@example.com',
        (email) =>
          t.service.database.transaction((tx) =>
            suppressAddress(tx, [TEST_SECRET], {
              emailKey: email,
              domain: domainOf(email),
              listId: null,
              reason: 'bounced',
              source: 'smtp 550',
              at: Date.now(),
            }),
          ),
        'suppressed:bounced',
      ],
      [
        'complained@example.com',
        (email) =>
          t.service.database.transaction((tx) =>
            suppressAddress(tx, [TEST_SECRET], {
              emailKey: email,
              domain: domainOf(email),
              listId: null,
              reason: 'complained',
              source: 'webhook',
              at: Date.now(),
            }),
          ),
        'suppressed:complained',
      ],
      [
        'blocked@example.com',
        (email) => postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual' }, ADMIN_AUTH),
        'suppressed:manual',
      ],
      [
        'blocked-list@example.com',
        // The same list as the opt-out's entry: a fact of its own beside it, named by its reason.
        (email) => postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'manual', list: 'bye' }, ADMIN_AUTH),
        'suppressed:manual',
      ],
    ];
    for (const [email, block, reason] of blockers) {
      expect((await unsubscribeFromPage(await subscribed(email))).status).toBe(200);
      const [row] = await goodbyeRows(email);
      expect(await gate(email, row!)).toEqual({ allowed: true });
      await block(email);
      expect(await gate(email, row!), email).toEqual({ allowed: false, reason });
    }

    const email = 'two-lists@example.com';
    const quietToken = await subscribed(email, 'quiet');
    expect((await unsubscribeFromPage(await subscribed(email))).status).toBe(200);
    const [row] = await goodbyeRows(email);
    expect((await unsubscribeFromPage(quietToken, 'all')).status).toBe(200);
    expect(await gate(email, row!)).toEqual({ allowed: false, reason: 'suppressed:unsubscribed' });
  });

  it('reaches the mailbox once, in the subscriber’s language; an erased contact’s goodbye is gone', async () => {
    const email = 'goodbye-fr@example.com';
    expect((await postJson(`${t.url}/subscribe`, { email, list: 'bye', locale: 'fr' })).status).toBe(202);
    const subscription = await waitFor(() => subscriptionOf(email, 'bye'));
    expect(
      (
        await postForm(`${t.url}/confirm`, {
          token: createToken([TEST_SECRET], {
            purpose: 'confirm',
            subscriptionId: subscription.id,
            expiresAt: subscription.confirmExpiresAt!,
          }),
        })
      ).status,
    ).toBe(200);
    expect(
      (await unsubscribeFromPage(createToken([TEST_SECRET], { purpose: 'unsubscribe', subscriptionId: subscription.id, expiresAt: 0 })))
        .status,
    ).toBe(200);

    const erased = 'goodbye-erased@example.com';
    expect((await unsubscribeFromPage(await subscribed(erased))).status).toBe(200);
    const [erasedRow] = await goodbyeRows(erased);
    await eraseContact(t.service.database, [TEST_SECRET], erased, 'test');

    const worker = await startWorkerBeside(t);
    try {
      const goodbye: ReceivedMail = await waitFor(
        () => t.smtp.to(email).find((m) => m.header('feedback-id')?.includes(':goodbye:')),
        10_000,
        'the goodbye mail',
      );
      expect(goodbye.parsed.subject).toContain('Les nouvelles');
      expect(goodbye.parsed.text).toContain('C’est le seul e-mail que nous envoyons à ce sujet');
      expect(linkIn(goodbye, 'unsubscribe')).toContain(tokenOf(linkIn(goodbye, 'unsubscribe')));
      const { outbox } = t.service.database.tables;
      // Erasure deletes the row; the job already handed to the queue finds nothing to send.
      expect(await db().select().from(outbox).where(eq(outbox.id, erasedRow!.id))).toEqual([]);
      await waitFor(async () => (await goodbyeRows(email))[0]?.status === 'sent', 10_000, 'the goodbye row marked sent');
      expect(t.smtp.to(email).filter((m) => m.header('feedback-id')?.includes(':goodbye:'))).toHaveLength(1);
      expect(t.smtp.to(erased).filter((m) => m.header('feedback-id')?.includes(':goodbye:'))).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});
