import { randomUUID } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneOutbox } from '../../src/features/delivery/prune.js';
import { mayMail } from '../../src/features/policy/service.js';
import { pruneWebhookDeliveries } from '../../src/features/webhooks-out/prune.js';
import type { Database } from '../../src/platform/db/database.js';
import { addMailJobs } from '../../src/platform/queue/queues.js';
import { broadcastApi, progressOf, seedConfirmedList } from '../support/broadcasts.js';
import { canary } from '../support/canary.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, firstSweepDone, startTestService, TEST_SECRET, type TestService } from '../support/service.js';

/*
 * Pruning (issue 21): sent and dropped outbox rows and ended webhook deliveries leave their
 * tables after OUTBOX_RETENTION, in transactions of at most 1,000 rows, and everything that read
 * them answers as before: the contact's record, a broadcast's counts, the daily stats.
 * Time is driven by the functions' `now`, or by rows written with old timestamps.
 */

const DAY = 86_400_000;
const RETENTION = 30 * DAY;
/** A moment at which every message this file's service has ended is past the retention. */
const later = () => Date.now() + RETENTION + DAY;

/** Addresses whose server answers 451 (try again later) at RCPT TO: their message stays queued, retried. */
const busy = new Set<string>();

let t: TestService;
beforeAll(async () => {
  t = await startTestService({
    // A busy recipient's message is retried slowly and often: it is still waiting when its broadcast is cancelled.
    env: { BROADCAST_RATE_PER_MINUTE: '0', SEND_BACKOFF_MS: '300', SEND_ATTEMPTS: '30' },
    smtp: { onRcpt: (address) => (busy.has(address.toLowerCase()) ? { code: 451, message: '4.2.1 Mailbox busy, try later' } : undefined) },
  });
  // The service's own sweep has had its first round; the next is an hour away, so only the test prunes.
  await firstSweepDone(t);
});
afterAll(async () => {
  await t?.stop();
});

const admin = (path: string) => fetch(`${t.url}/admin/api${path}`, { headers: ADMIN_AUTH });
const recordOf = async (email: string) => (await admin(`/contacts/${encodeURIComponent(email)}`)).json();
const total = (batches: number[]) => batches.reduce((sum, n) => sum + n, 0);

async function subscriptionIdsOf(database: Database, listId: number): Promise<number[]> {
  const { subscriptions } = database.tables;
  const rows = await database.db.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.listId, listId));
  return rows.map((row) => row.id);
}

/** Signs up, confirms through the real emails, and returns once the welcome email arrived and its row is marked. */
async function subscribed(email: string): Promise<void> {
  expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'confirmation email');
  expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
  await waitFor(() => t.smtp.to(email).length === 2, 5000, 'welcome email');
  await canary(t);
}

describe('pruning the outbox', () => {
  it('prunes sent and dropped rows past the retention, at most 1,000 a transaction; younger, queued, failed and a running broadcast’s rows stay', async () => {
    const { database } = t.service;
    const { db, tables } = database;
    const { broadcasts, mailHistory, outbox } = tables;
    const { listId } = await seedConfirmedList(database, 'prune-batches', 5);
    const subscriptionIds = await subscriptionIdsOf(database, listId);
    const now = Date.now();
    const old = now - 40 * DAY;
    const row = (n: number, status: 'sent' | 'dropped' | 'queued' | 'failed', createdAt: number) => ({
      id: randomUUID(),
      kind: 'welcome' as const,
      subscriptionId: subscriptionIds[n % subscriptionIds.length]!,
      status,
      createdAt,
      sentAt: status === 'sent' ? createdAt + 1000 : null,
      lastError: status === 'dropped' ? 'not_confirmed' : status === 'failed' ? '550 5.1.1 no such user' : null,
    });
    const due = [
      ...Array.from({ length: 2000 }, (_, n) => row(n, 'sent', old + n)),
      ...Array.from({ length: 500 }, (_, n) => row(n, 'dropped', old + n)),
    ];
    const young = Array.from({ length: 3 }, (_, n) => row(n, 'sent', now - DAY));
    const failed = Array.from({ length: 2 }, (_, n) => row(n, 'failed', old));
    // A paused broadcast's rows are neither handed nor pruned: it has not ended, so its counts may still change.
    const [paused] = await database.transaction((tx) =>
      tx.db
        .insert(broadcasts)
        .values({
          listId,
          subject: '"Paused"',
          body: '"Hello"',
          format: 'markdown',
          status: 'paused',
          createdAt: old,
          startedAt: old,
          total: 4,
        })
        .returning(),
    );
    const ofPaused = [row(0, 'sent', old), row(1, 'sent', old), row(2, 'queued', old), row(3, 'queued', old)].map((r) => ({
      ...r,
      kind: 'broadcast' as const,
      broadcastId: paused!.id,
    }));
    const kept = [...young, ...failed, ...ofPaused];
    const written = [...due, ...kept];
    await database.transaction(async (tx) => {
      for (let start = 0; start < written.length; start += 500) await tx.db.insert(outbox).values(written.slice(start, start + 500));
    });

    expect(await pruneOutbox(database, RETENTION, now)).toEqual([1000, 1000, 500]);
    expect(await pruneOutbox(database, RETENTION, now)).toEqual([]);

    const left = await db.select({ id: outbox.id }).from(outbox).where(inArray(outbox.subscriptionId, subscriptionIds));
    expect(left.map((r) => r.id).sort()).toEqual(kept.map((r) => r.id).sort());
    const history = await db.select().from(mailHistory).where(inArray(mailHistory.subscriptionId, subscriptionIds));
    expect(history).toHaveLength(2500);
    const sent = due[0]!;
    expect(history.find((h) => h.status === 'sent' && h.createdAt === sent.createdAt)).toEqual({
      id: expect.any(Number),
      subscriptionId: sent.subscriptionId,
      broadcastId: null,
      kind: 'welcome',
      status: 'sent',
      reason: null,
      createdAt: sent.createdAt,
      sentAt: sent.sentAt,
      optedOutAt: null,
    });
    const dropped = due[2000]!;
    expect(history.find((h) => h.status === 'dropped' && h.createdAt === dropped.createdAt)).toMatchObject({
      subscriptionId: dropped.subscriptionId,
      reason: 'not_confirmed',
      sentAt: null,
    });
    // Its waiting rows are given up (the canaries of the next tests wait for every queued row).
    expect((await broadcastApi(t.url, `/${paused!.id}/cancel`)).body.status).toBe('cancelled');
  });

  it('the contact’s record, its data download and the daily stats read the same after pruning; a job for a pruned row sends nothing', async () => {
    const email = 'pat.pruned@example.com';
    await subscribed(email);
    const { database } = t.service;
    const { db, tables } = database;
    const { contacts, outbox, subscriptions } = tables;
    const [theirs] = await db
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
      .where(eq(contacts.emailKey, email));
    // A message the gate refused, as the worker leaves it.
    await database.transaction((tx) =>
      tx.db.insert(outbox).values({
        id: randomUUID(),
        kind: 'goodbye',
        subscriptionId: theirs!.id,
        status: 'dropped',
        lastError: 'goodbye_window_passed',
        createdAt: Date.now(),
      }),
    );
    const [welcome] = await db
      .select({ id: outbox.id })
      .from(outbox)
      .where(and(eq(outbox.subscriptionId, theirs!.id), eq(outbox.kind, 'welcome')));
    const before = await recordOf(email);
    expect(before.messages.map((m: { kind: string; status: string }) => `${m.kind} ${m.status}`)).toEqual([
      'goodbye dropped',
      'welcome sent',
      'confirmation sent',
    ]);
    // The data download, but for the moment it was made.
    const download = async () => ({ ...(await (await admin(`/contacts/${encodeURIComponent(email)}/export`)).json()), exportedAt: null });
    const downloadBefore = await download();
    expect(downloadBefore.messages).toHaveLength(3);
    const statsBefore = await (await admin('/stats?days=30')).json();

    expect(total(await pruneOutbox(database, RETENTION, later()))).toBeGreaterThanOrEqual(3);

    expect(await db.select().from(outbox).where(eq(outbox.subscriptionId, theirs!.id))).toEqual([]);
    expect(await recordOf(email)).toEqual(before);
    expect(await download()).toEqual(downloadBefore);
    expect(await (await admin('/stats?days=30')).json()).toEqual(statsBefore);

    // The welcome's job again (a retry, a stalled job taken over): no row, nothing to send, done.
    const { queue } = t.service.queue;
    await addMailJobs(queue, [welcome!.id]);
    await waitFor(async () => (await queue.getJob(welcome!.id)) === undefined, 5000, 'the job for the pruned row to complete');
    await canary(t);
    expect(t.smtp.to(email)).toHaveLength(2);
  });

  it('a confirmation pruned from the outbox still counts against the address’s limits', async () => {
    const email = 'bombed.pruned@example.com';
    expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
    await waitFor(() => t.smtp.to(email)[0], 5000, 'the confirmation');
    await canary(t);
    const { database } = t.service;
    const { contacts, outbox, subscriptions } = database.tables;
    const [contact] = await database.db.select().from(contacts).where(eq(contacts.emailKey, email));
    // Asked long after: only "unanswered" can refuse (one is the most an address may leave unanswered here).
    const at = later() + DAY;
    const ask = () =>
      mayMail(database, [TEST_SECRET], {
        emailKey: email,
        listId: 1,
        kind: 'confirmation',
        subscriptionStatus: 'pending',
        confirmExpiresAt: at + DAY,
        confirmBudget: { contactId: contact!.id, outboxId: null, requestedAt: at, limits: { cooldownMs: 0, max: 1 } },
        now: at,
      });
    expect(await ask()).toEqual({ allowed: false, reason: 'confirm_unanswered' });

    await pruneOutbox(database, RETENTION, later());
    const theirs = database.db.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.contactId, contact!.id));
    expect(await database.db.select().from(outbox).where(inArray(outbox.subscriptionId, theirs))).toEqual([]);
    expect(await ask()).toEqual({ allowed: false, reason: 'confirm_unanswered' });
  });

  it('a broadcast’s counts read the same after its rows are pruned, and its own unsubscribe link still counts once', async () => {
    const { database } = t.service;
    const { outbox } = database.tables;
    const sendNow = async (slug: string) => {
      const created = await broadcastApi(t.url, '', { list: slug, subject: `To ${slug}`, body: 'Hello', format: 'markdown' });
      expect(created.status).toBe(201);
      expect((await broadcastApi(t.url, `/${created.body.id}/send`)).status).toBe(200);
      return created.body.id as number;
    };
    await seedConfirmedList(database, 'prune-sent', 3);
    const sentId = await sendNow('prune-sent');
    await waitFor(async () => (await progressOf(t.url, sentId)).status === 'sent', 15_000, 'the broadcast to be sent');

    // Two of three recipients busy: their messages wait, retried, when the cancel lands.
    const { emails: cancelled } = await seedConfirmedList(database, 'prune-cancel', 3);
    busy.add(cancelled[1]!).add(cancelled[2]!);
    const cancelId = await sendNow('prune-cancel');
    await waitFor(async () => {
      const p = await progressOf(t.url, cancelId);
      return p.sent === 1 && p.queued === 2;
    }, 15_000);
    expect((await broadcastApi(t.url, `/${cancelId}/cancel`)).body.status).toBe('cancelled');
    busy.clear();

    const before = [await progressOf(t.url, sentId), await progressOf(t.url, cancelId)];
    expect(before[0]).toMatchObject({ status: 'sent', total: 3, sent: 3, dropped: 0, cancelled: 0, queued: 0, unsubscribed: 0 });
    expect(before[1]).toMatchObject({ status: 'cancelled', total: 3, sent: 1, dropped: 0, cancelled: 2, queued: 0 });

    await pruneOutbox(database, RETENTION, later());

    const left = await database.db
      .select()
      .from(outbox)
      .where(inArray(outbox.broadcastId, [sentId, cancelId]));
    expect(left).toEqual([]);
    expect([await progressOf(t.url, sentId), await progressOf(t.url, cancelId)]).toEqual(before);

    // A recipient's click on the broadcast's own link, after its row left the outbox: counted once,
    // however often they come back and click again.
    const mail = t.smtp.messages.find((m) => m.parsed.messageId?.startsWith(`<bc${sentId}-`))!;
    const link = `${t.url}${new URL(linkIn(mail, 'unsubscribe')).pathname}${new URL(linkIn(mail, 'unsubscribe')).search}`;
    for (let round = 0; round < 2; round += 1) {
      expect((await oneClick(link)).status).toBe(200);
      expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(link)}`, {})).status).toBe(200);
    }
    expect(await progressOf(t.url, sentId)).toEqual({ ...before[0], unsubscribed: 1 });
  });

  it('an erasure takes the person’s mail history with it, and no history row holds an address', async () => {
    const email = 'erin.history@example.com';
    await subscribed(email);
    const { database } = t.service;
    const { db, tables } = database;
    const { contacts, mailHistory, subscriptions } = tables;
    const theirs = (
      await db
        .select({ id: subscriptions.id })
        .from(subscriptions)
        .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
        .where(eq(contacts.emailKey, email))
    ).map((s) => s.id);
    await pruneOutbox(database, RETENTION, later());
    expect(await db.select({ kind: mailHistory.kind }).from(mailHistory).where(inArray(mailHistory.subscriptionId, theirs))).toEqual(
      expect.arrayContaining([{ kind: 'confirmation' }, { kind: 'welcome' }]),
    );
    const everything = async () => JSON.stringify(await db.select().from(mailHistory));
    expect(await everything()).not.toContain('erin.history');

    expect(
      (await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { method: 'DELETE', headers: ADMIN_AUTH })).status,
    ).toBe(204);
    expect(await db.select().from(mailHistory).where(inArray(mailHistory.subscriptionId, theirs))).toEqual([]);
    expect(await everything()).not.toContain('erin.history');
  });
});

describe('pruning webhook deliveries', () => {
  it('prunes deliveries that ended before the retention, with their attempts, at most 1,000 a transaction; queued and recent ones stay', async () => {
    const { database } = t.service;
    const { db, tables } = database;
    const { webhookAttempts, webhookDeliveries, webhookEndpoints } = tables;
    const now = Date.now();
    const old = now - 40 * DAY;
    const endpointId = randomUUID();
    // Disabled: its queued delivery is held, as the relay leaves it, never handed.
    await database.transaction((tx) =>
      tx.db.insert(webhookEndpoints).values({
        id: endpointId,
        url: 'http://127.0.0.1:9/hook',
        events: '["contact.suppressed"]',
        secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        enabled: false,
        createdAt: old,
      }),
    );
    const delivery = (status: 'delivered' | 'failed' | 'erased' | 'queued', finishedAt: number | null) => ({
      id: randomUUID(),
      endpointId,
      eventType: 'contact.suppressed',
      payload: '{"type":"contact.suppressed","timestamp":"2026-01-01T00:00:00.000Z","data":{}}',
      status,
      attempts: 1,
      createdAt: old,
      finishedAt,
    });
    const due = [
      ...Array.from({ length: 1200 }, (_, n) => delivery('delivered', old + n)),
      delivery('failed', old),
      delivery('erased', old),
    ];
    const kept = [delivery('delivered', now - DAY), delivery('queued', null)];
    const written = [...due, ...kept];
    await database.transaction(async (tx) => {
      for (let start = 0; start < written.length; start += 500) {
        const slice = written.slice(start, start + 500);
        await tx.db.insert(webhookDeliveries).values(slice);
        await tx.db
          .insert(webhookAttempts)
          .values(slice.map((d) => ({ deliveryId: d.id, at: d.createdAt, statusCode: 200, durationMs: 3 })));
      }
    });

    expect(await pruneWebhookDeliveries(database, RETENTION, now)).toEqual([1000, 202]);
    expect(await pruneWebhookDeliveries(database, RETENTION, now)).toEqual([]);

    const left = await db.select({ id: webhookDeliveries.id }).from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointId));
    expect(left.map((d) => d.id).sort()).toEqual(kept.map((d) => d.id).sort());
    const attempts = await db
      .select({ deliveryId: webhookAttempts.deliveryId })
      .from(webhookAttempts)
      .where(
        inArray(
          webhookAttempts.deliveryId,
          written.map((d) => d.id),
        ),
      );
    expect(attempts.map((a) => a.deliveryId).sort()).toEqual(kept.map((d) => d.id).sort());
  });
});

describe('the sweep prunes', () => {
  it('every SWEEP_INTERVAL, the outbox and the webhook deliveries past OUTBOX_RETENTION', async () => {
    const s = await startTestService({ env: { SWEEP_INTERVAL: '200ms', OUTBOX_RETENTION: '30d' } });
    try {
      const { database } = s.service;
      const { db, tables } = database;
      const { mailHistory, outbox, webhookDeliveries, webhookEndpoints } = tables;
      const { listId } = await seedConfirmedList(database, 'swept', 1);
      const [subscriptionId] = await subscriptionIdsOf(database, listId);
      const old = Date.now() - 31 * DAY;
      const young = Date.now() - 29 * DAY;
      const message = (createdAt: number) => ({
        id: randomUUID(),
        kind: 'welcome' as const,
        subscriptionId,
        status: 'sent' as const,
        createdAt,
        sentAt: createdAt,
      });
      const [oldMessage, youngMessage] = [message(old), message(young)];
      await database.transaction(async (tx) => {
        await tx.db.insert(outbox).values([oldMessage, youngMessage]);
        await tx.db
          .insert(webhookEndpoints)
          .values({ id: 'swept', url: 'http://127.0.0.1:9/hook', events: '[]', secret: 'whsec_x', enabled: false, createdAt: old });
      });
      const ended = (finishedAt: number) => ({
        id: randomUUID(),
        endpointId: 'swept',
        eventType: 'contact.suppressed',
        payload: '{}',
        status: 'delivered' as const,
        createdAt: finishedAt,
        finishedAt,
      });
      const [oldDelivery, youngDelivery] = [ended(old), ended(young)];
      await database.transaction((tx) => tx.db.insert(webhookDeliveries).values([oldDelivery, youngDelivery]));

      await waitFor(
        async () =>
          (await db.select().from(outbox).where(eq(outbox.id, oldMessage.id))).length === 0 &&
          (await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, oldDelivery.id))).length === 0,
        10_000,
        'the sweep to prune the old message and delivery',
      );
      expect(await db.select({ createdAt: mailHistory.createdAt, kind: mailHistory.kind }).from(mailHistory)).toEqual([
        { createdAt: oldMessage.createdAt, kind: 'welcome' },
      ]);
      expect(await db.select({ id: outbox.id }).from(outbox).where(eq(outbox.id, youngMessage.id))).toEqual([{ id: youngMessage.id }]);
      expect(await db.select({ id: webhookDeliveries.id }).from(webhookDeliveries)).toEqual([{ id: youngDelivery.id }]);
    } finally {
      await s.stop();
    }
  });
});
