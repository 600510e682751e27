import { and, eq } from 'drizzle-orm';
import type { Database, Scope } from '../../platform/db/database.js';
import { localize } from '../../platform/locales/localizedText.js';
import { DEFAULT_LOCALE } from '../../platform/locales/locale.js';
import { count, desc, gt, gte, inArray, lte, or, type SQL } from 'drizzle-orm';
import { forUpdate, type Row } from '../../platform/db/database.js';
import { BROADCAST_FORMATS, type BroadcastFormat, type BroadcastStatus } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { checkLocalizedText, encodeLocalizedText, localesOf, type LocalizedText } from '../../platform/locales/localizedText.js';
import { BroadcastRenderError, renderBroadcast, type BroadcastLayouts } from './content.js';
import { broadcastOutboxId, CANCELLED } from './recipients.js';

/** Recipients written to the outbox per transaction: a big list never sits in memory, nor one long write lock. */
export const RECIPIENT_BATCH = 1000;
const MAX_SUBJECT = 200;
const MAX_BODY = 200_000;

const notFound = () => new AppError(404, 'unknown_broadcast', 'There is no such broadcast.');

/** A broadcast id from a URL, or 404. */
export function broadcastIdOf(value: string | undefined): number {
  if (!value || !/^[1-9]\d{0,15}$/.test(value)) throw notFound();
  return Number(value);
}

export interface NewBroadcast {
  list: unknown;
  subject: unknown;
  body: unknown;
  format: unknown;
  sendAt?: unknown;
}

function sendAtOf(value: unknown, now: number): number | null {
  if (value === undefined || value === null || value === '') return null;
  const at = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(at))
    throw new AppError(400, 'invalid_send_at', 'sendAt must be a date and time (ISO 8601, e.g. "2026-12-01T09:00:00Z").');
  if (at <= now) throw new AppError(400, 'invalid_send_at', 'sendAt must be in the future; to send now, create a draft and send it.');
  return at;
}

/**
 * Writes a broadcast as a draft, or scheduled when it has a sendAt. Everything is checked before
 * the write: the list, the words per locale, and the body renders in every locale it was
 * written in (MJML errors are named); HTML is sanitised when it is rendered, not refused.
 */
export async function createBroadcast(
  database: Database,
  layouts: BroadcastLayouts,
  input: NewBroadcast,
  now = Date.now(),
): Promise<Row<'broadcasts'>> {
  if (typeof input.list !== 'string' || input.list.trim() === '')
    throw new AppError(400, 'missing_field', 'The field "list" (the list\'s slug) is required.');
  const subject = checkLocalizedText(input.subject, MAX_SUBJECT);
  if (!subject.ok) throw new AppError(400, 'invalid_subject', `The subject ${subject.problem}.`);
  if (typeof subject.value === 'string' ? /[\r\n]/.test(subject.value) : Object.values(subject.value).some((s) => /[\r\n]/.test(s!))) {
    throw new AppError(400, 'invalid_subject', 'The subject must be one line.');
  }
  const body = checkLocalizedText(input.body, MAX_BODY);
  if (!body.ok) throw new AppError(400, 'invalid_body', `The body ${body.problem}.`);
  const format = (input.format ?? 'markdown') as BroadcastFormat;
  if (!BROADCAST_FORMATS.includes(format))
    throw new AppError(400, 'invalid_format', `The format must be one of: ${BROADCAST_FORMATS.join(', ')}.`);
  const sendAt = sendAtOf(input.sendAt, now);
  for (const locale of localesOf(body.value)) {
    try {
      await renderBroadcast(layouts, { subject: subject.value, body: body.value, format }, locale, { strict: true });
    } catch (error) {
      if (error instanceof BroadcastRenderError)
        throw new AppError(400, 'invalid_body', `The ${locale} body is not valid MJML: ${error.message}`);
      throw error;
    }
  }
  const [list] = await database.db.select().from(database.tables.lists).where(eq(database.tables.lists.slug, input.list.trim()));
  if (!list) throw new AppError(404, 'unknown_list', 'There is no list with this slug.');
  if (list.archivedAt !== null) throw new AppError(409, 'list_archived', 'This list is archived: it gets no broadcasts.');
  return database.transaction(async (tx) => {
    const [row] = await tx.db
      .insert(tx.tables.broadcasts)
      .values({
        listId: list.id,
        subject: encodeLocalizedText(subject.value),
        body: encodeLocalizedText(body.value),
        format,
        status: sendAt === null ? 'draft' : 'scheduled',
        sendAt,
        createdAt: now,
      })
      .returning();
    return row!;
  });
}

/** What the API and console show of a broadcast, with its counts. */
export interface BroadcastProgress {
  id: number;
  list: string;
  subject: LocalizedText;
  format: BroadcastFormat;
  status: BroadcastStatus;
  /** Recipients taken when sending started (the list's confirmed subscribers then). */
  total: number;
  /** Messages still to send (written and waiting, or paused, or not written yet). */
  queued: number;
  sent: number;
  failed: number;
  /** Recipients the mail policy refused at send time: opted out, suppressed or erased since the start. */
  dropped: number;
  // sent + dropped + failed + queued (+ cancelled) = total at every moment; an erasure later changes none of them.
  /** Recipients a cancel gave up: their rows still waiting then, and those not yet written. */
  cancelled: number;
  unsubscribed: number;
  sendAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

async function loadBroadcast(scope: Scope, id: number) {
  const { broadcasts, lists } = scope.tables;
  const [row] = await scope.db
    .select({ broadcast: broadcasts, list: lists.slug })
    .from(broadcasts)
    .innerJoin(lists, eq(lists.id, broadcasts.listId))
    .where(eq(broadcasts.id, id));
  if (!row) throw notFound();
  return row;
}

/** The broadcast and its list's slug; 404 when unknown. */
export async function findBroadcast(scope: Scope, id: number) {
  return loadBroadcast(scope, id);
}

/**
 * Counts from the outbox by status (the outbox_broadcast_status index), plus the rows pruned from
 * it once the broadcast ended (its pruned_* counts, kept by the pruning: delivery/prune.ts). A
 * cancel marks the rows still waiting `dropped` with lastError 'cancelled': they are reported as
 * `cancelled`, not as opt-outs, and so are the recipients the cancel kept from ever being written.
 */
export async function broadcastProgress(scope: Scope, id: number): Promise<BroadcastProgress> {
  const { broadcast, list } = await loadBroadcast(scope, id);
  const { outbox } = scope.tables;
  const rows = await scope.db
    .select({ status: outbox.status, n: count() })
    .from(outbox)
    .where(eq(outbox.broadcastId, id))
    .groupBy(outbox.status);
  const by = Object.fromEntries(rows.map((row) => [row.status, Number(row.n)])) as Partial<Record<string, number>>;
  by.sent = (by.sent ?? 0) + broadcast.prunedSent;
  by.dropped = (by.dropped ?? 0) + broadcast.prunedDropped;
  let queued = by.queued ?? 0;
  let dropped = by.dropped ?? 0;
  let cancelled = 0;
  // Recipients taken at the start whose row is not written (yet): still to send while it sends;
  // once it is sent, those who left the recipients before their row was written (their
  // subscription erased, or ended and taken up again since) were dropped. So the counts always
  // add up to `total`: an erasure keeps its rows, anonymous, and the pruning keeps their counts.
  const unwritten = Math.max(0, broadcast.total - ((by.queued ?? 0) + (by.sent ?? 0) + (by.failed ?? 0) + (by.dropped ?? 0)));
  if (broadcast.status === 'sending' || broadcast.status === 'paused') queued += unwritten;
  else if (broadcast.status === 'sent') dropped += unwritten;
  else if (broadcast.status === 'cancelled') {
    const [given] = await scope.db
      .select({ n: count() })
      .from(outbox)
      .where(and(eq(outbox.broadcastId, id), eq(outbox.status, 'dropped'), eq(outbox.lastError, CANCELLED)));
    const givenUp = Number(given?.n ?? 0) + broadcast.prunedCancelled;
    dropped -= givenUp;
    cancelled = givenUp + unwritten;
  }
  return {
    id: broadcast.id,
    list,
    subject: JSON.parse(broadcast.subject) as LocalizedText,
    format: broadcast.format,
    status: broadcast.status,
    total: broadcast.total,
    queued,
    sent: by.sent ?? 0,
    failed: by.failed ?? 0,
    dropped,
    cancelled,
    unsubscribed: broadcast.unsubscribed,
    sendAt: iso(broadcast.sendAt),
    createdAt: iso(broadcast.createdAt)!,
    startedAt: iso(broadcast.startedAt),
    finishedAt: iso(broadcast.finishedAt),
  };
}

/** A line of the list of broadcasts. */
export interface BroadcastSummary {
  id: number;
  list: string;
  subject: string;
  format: BroadcastFormat;
  status: BroadcastStatus;
  total: number;
  sendAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** Broadcasts, newest first. */
export async function listBroadcasts(scope: Scope, limit = 100): Promise<BroadcastSummary[]> {
  const { broadcasts, lists } = scope.tables;
  const rows = await scope.db
    .select({ broadcast: broadcasts, list: lists.slug })
    .from(broadcasts)
    .innerJoin(lists, eq(lists.id, broadcasts.listId))
    .orderBy(desc(broadcasts.id))
    .limit(limit);
  return rows.map(({ broadcast: b, list }) => ({
    id: b.id,
    list,
    subject: localize(JSON.parse(b.subject) as LocalizedText, DEFAULT_LOCALE),
    format: b.format,
    status: b.status,
    total: b.total,
    sendAt: iso(b.sendAt),
    createdAt: iso(b.createdAt)!,
    startedAt: iso(b.startedAt),
    finishedAt: iso(b.finishedAt),
  }));
}

/**
 * The list's recipients as taken at the start: confirmed by then, and still confirmed or opted
 * out since (their row is written all the same, and the worker's mail policy drops it: counted).
 */
function recipientsOf(scope: Scope, broadcast: Row<'broadcasts'>, startedAt: number): SQL {
  const { subscriptions } = scope.tables;
  return and(
    eq(subscriptions.listId, broadcast.listId),
    lte(subscriptions.confirmedAt, startedAt),
    or(eq(subscriptions.status, 'confirmed'), and(eq(subscriptions.status, 'unsubscribed'), gte(subscriptions.unsubscribedAt, startedAt))),
  )!;
}

async function lockBroadcast(tx: Scope, id: number): Promise<Row<'broadcasts'>> {
  const { broadcasts } = tx.tables;
  const [row] = await forUpdate(tx, tx.db.select().from(broadcasts).where(eq(broadcasts.id, id)));
  if (!row) throw notFound();
  return row;
}

const wrongState = (status: BroadcastStatus, wanted: string) =>
  new AppError(409, 'wrong_status', `This broadcast is ${status}; ${wanted}.`);

/**
 * Starts sending: takes the count of the list's confirmed subscribers now (they, and only they,
 * are its recipients) and marks it sending. The recipients' rows are written afterwards, in
 * batches (queueRecipients). A list with nobody on it is sent at once.
 */
export async function startBroadcast(database: Database, id: number, now = Date.now()): Promise<BroadcastStatus> {
  return database.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, id);
    if (broadcast.status !== 'draft' && broadcast.status !== 'scheduled')
      throw wrongState(broadcast.status, 'only a draft or a scheduled broadcast can be sent');
    const [list] = await tx.db
      .select({ archivedAt: tx.tables.lists.archivedAt })
      .from(tx.tables.lists)
      .where(eq(tx.tables.lists.id, broadcast.listId));
    if (list?.archivedAt !== null && list?.archivedAt !== undefined)
      throw new AppError(409, 'list_archived', 'This list is archived: it gets no broadcasts.');
    const { subscriptions, broadcasts } = tx.tables;
    const [counted] = await tx.db
      .select({ n: count() })
      .from(subscriptions)
      .where(recipientsOf(tx, broadcast, now));
    const total = Number(counted?.n ?? 0);
    const status: BroadcastStatus = total === 0 ? 'sent' : 'sending';
    await tx.db
      .update(broadcasts)
      .set({ status, startedAt: now, total, queuedThrough: null, finishedAt: total === 0 ? now : null })
      .where(eq(broadcasts.id, id));
    return status;
  });
}

/**
 * Writes the next batch of recipients as outbox rows, in subscription id order from the
 * `queuedThrough` cursor, in one transaction with the cursor's move. The broadcast row is locked
 * first, so two processes batching the same broadcast take turns and the second continues where
 * the first stopped; the row ids (broadcastOutboxId) make a recipient written twice impossible
 * anyway. Returns how many were written; fewer than the batch size means every recipient is in.
 */
export async function queueRecipientBatch(database: Database, id: number, batchSize = RECIPIENT_BATCH, now = Date.now()): Promise<number> {
  return database.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, id);
    if ((broadcast.status !== 'sending' && broadcast.status !== 'paused') || broadcast.startedAt === null) return 0;
    const { outbox, subscriptions, broadcasts } = tx.tables;
    const recipients = await tx.db
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .where(and(recipientsOf(tx, broadcast, broadcast.startedAt), gt(subscriptions.id, broadcast.queuedThrough ?? 0)))
      .orderBy(subscriptions.id)
      .limit(batchSize);
    if (recipients.length === 0) return 0;
    await tx.db
      .insert(outbox)
      .values(
        recipients.map((recipient) => ({
          id: broadcastOutboxId(id, recipient.id),
          kind: 'broadcast' as const,
          subscriptionId: recipient.id,
          status: 'queued' as const,
          createdAt: now,
          broadcastId: id,
        })),
      )
      .onConflictDoNothing();
    await tx.db
      .update(broadcasts)
      .set({ queuedThrough: recipients.at(-1)!.id })
      .where(eq(broadcasts.id, id));
    return recipients.length;
  });
}

/** Writes every remaining recipient of a broadcast, batch after batch. */
export async function queueRecipients(database: Database, id: number, batchSize = RECIPIENT_BATCH): Promise<number> {
  let written = 0;
  for (;;) {
    const n = await queueRecipientBatch(database, id, batchSize);
    written += n;
    if (n < batchSize) return written;
  }
}

/** Marks a sending broadcast sent once every recipient is written and none is left queued. */
export async function finishIfDone(database: Database, id: number, now = Date.now()): Promise<boolean> {
  return database.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, id);
    if (broadcast.status !== 'sending' || broadcast.startedAt === null) return false;
    const { outbox, subscriptions, broadcasts } = tx.tables;
    const [unwritten] = await tx.db
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .where(and(recipientsOf(tx, broadcast, broadcast.startedAt), gt(subscriptions.id, broadcast.queuedThrough ?? 0)))
      .limit(1);
    if (unwritten) return false;
    const [waiting] = await tx.db
      .select({ id: outbox.id })
      .from(outbox)
      .where(and(eq(outbox.broadcastId, id), eq(outbox.status, 'queued')))
      .limit(1);
    if (waiting) return false;
    await tx.db.update(broadcasts).set({ status: 'sent', finishedAt: now }).where(eq(broadcasts.id, id));
    return true;
  });
}

/** sending → paused: its waiting messages stay queued; the worker hands back any already in the queue. */
export async function pauseBroadcast(database: Database, id: number): Promise<void> {
  await database.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, id);
    if (broadcast.status !== 'sending') throw wrongState(broadcast.status, 'only a broadcast that is sending can be paused');
    await tx.db.update(tx.tables.broadcasts).set({ status: 'paused' }).where(eq(tx.tables.broadcasts.id, id));
  });
}

/** paused → sending: its relay hands the waiting messages again. */
export async function resumeBroadcast(database: Database, id: number): Promise<void> {
  await database.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, id);
    if (broadcast.status !== 'paused') throw wrongState(broadcast.status, 'only a paused broadcast can be resumed');
    await tx.db.update(tx.tables.broadcasts).set({ status: 'sending' }).where(eq(tx.tables.broadcasts.id, id));
  });
}

/**
 * Stops a broadcast for good: every message still waiting becomes `dropped` with lastError
 * 'cancelled' (reported as `cancelled`), in the same transaction, and no more recipients are
 * written. A message already with the SMTP server when the cancel lands may still arrive.
 */
export async function cancelBroadcast(database: Database, id: number, now = Date.now()): Promise<void> {
  await database.transaction(async (tx) => {
    const broadcast = await lockBroadcast(tx, id);
    if (broadcast.status === 'sent' || broadcast.status === 'cancelled')
      throw wrongState(broadcast.status, 'it can no longer be cancelled');
    const { outbox, broadcasts } = tx.tables;
    await tx.db.update(broadcasts).set({ status: 'cancelled', finishedAt: now }).where(eq(broadcasts.id, id));
    await tx.db
      .update(outbox)
      .set({ status: 'dropped', lastError: CANCELLED })
      .where(and(eq(outbox.broadcastId, id), eq(outbox.status, 'queued')));
  });
}

/** Broadcasts the scheduler has work on: scheduled ones now due, and those sending or paused. */
export async function broadcastsToAdvance(scope: Scope, now = Date.now()): Promise<{ due: number[]; active: number[] }> {
  const { broadcasts } = scope.tables;
  const rows = await scope.db
    .select({ id: broadcasts.id, status: broadcasts.status })
    .from(broadcasts)
    .where(or(and(eq(broadcasts.status, 'scheduled'), lte(broadcasts.sendAt, now)), inArray(broadcasts.status, ['sending', 'paused'])));
  return {
    due: rows.filter((row) => row.status === 'scheduled').map((row) => row.id),
    active: rows.filter((row) => row.status !== 'scheduled').map((row) => row.id),
  };
}
