import { and, asc, eq, gt, inArray, isNotNull, sql } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import { preparedPerHandle } from '../../platform/db/prepared.js';
import type { Change } from '../changes/index.js';

/** The UTC day of a moment, as the rollup names it: 'YYYY-MM-DD'. */
export function dayOf(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

export interface DailyCounts {
  day: string;
  listId: number;
  signups: number;
  confirmations: number;
  unsubscribes: number;
  reminders: number;
}

export type Increment = Partial<Pick<DailyCounts, 'signups' | 'confirmations' | 'unsubscribes' | 'reminders'>> &
  Pick<DailyCounts, 'day' | 'listId'>;

/** Sums increments per (day, list): one row each, as one INSERT may touch a row only once on PostgreSQL. */
function summed(increments: readonly Increment[]): DailyCounts[] {
  const rows = new Map<string, DailyCounts>();
  for (const { day, listId, signups = 0, confirmations = 0, unsubscribes = 0, reminders = 0 } of increments) {
    const key = `${day}|${listId}`;
    const row = rows.get(key) ?? { day, listId, signups: 0, confirmations: 0, unsubscribes: 0, reminders: 0 };
    row.signups += signups;
    row.confirmations += confirmations;
    row.unsubscribes += unsubscribes;
    row.reminders += reminders;
    rows.set(key, row);
  }
  return [...rows.values()];
}

// Prepared once per handle: the signup group commit runs it once per batch (docs/performance.md).
const addToDay = preparedPerHandle(({ db, tables: { dailyListStats } }: Scope) =>
  db
    .insert(dailyListStats)
    .values({
      day: sql.placeholder('day'),
      listId: sql.placeholder('listId'),
      signups: sql.placeholder('signups'),
      confirmations: sql.placeholder('confirmations'),
      unsubscribes: sql.placeholder('unsubscribes'),
      reminders: sql.placeholder('reminders'),
    })
    .onConflictDoUpdate({
      target: [dailyListStats.day, dailyListStats.listId],
      set: {
        signups: sql`${sql.identifier('daily_list_stats')}.${sql.identifier('signups')} + excluded.signups`,
        confirmations: sql`${sql.identifier('daily_list_stats')}.${sql.identifier('confirmations')} + excluded.confirmations`,
        unsubscribes: sql`${sql.identifier('daily_list_stats')}.${sql.identifier('unsubscribes')} + excluded.unsubscribes`,
        reminders: sql`${sql.identifier('daily_list_stats')}.${sql.identifier('reminders')} + excluded.reminders`,
      },
    })
    .prepare('daily_stats_add_to_day'),
);

/**
 * Adds to the day rows of daily_list_stats, in the caller's transaction: one upsert
 * (INSERT … ON CONFLICT (day, list_id) DO UPDATE) per list and day, whatever the number of
 * increments.
 */
export async function addDailyCounts(tx: Scope, increments: readonly Increment[]): Promise<void> {
  for (const row of summed(increments)) await addToDay(tx).execute({ ...row });
}

/**
 * Counts what the dashboard shows of these changes, in the transaction that made them:
 * - a confirmation (a resubscribe that restores a confirmed subscription included) counts for its list;
 * - an unsubscribe counts once for every list on which it ended a confirmed subscription (for
 *   "every list", each of them), found as the contact's subscriptions it ended at that moment.
 *   An opt-out that ended nothing (clicked again) counts nothing;
 * - suppressions and erasures are not unsubscribes: they show in the status counts only.
 */
export async function countChanges(tx: Scope, changes: readonly Change[]): Promise<void> {
  const increments: Increment[] = [];
  for (const change of changes) {
    if (change.type === 'subscription.confirmed') increments.push({ day: dayOf(change.at), listId: change.listId, confirmations: 1 });
    if (change.type === 'subscription.unsubscribed') {
      const { contacts, subscriptions } = tx.tables;
      const ended = await tx.db
        .select({ listId: subscriptions.listId })
        .from(subscriptions)
        .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
        .where(
          and(
            eq(contacts.emailKey, change.email),
            eq(subscriptions.status, 'unsubscribed'),
            eq(subscriptions.unsubscribedAt, change.at),
            isNotNull(subscriptions.confirmedAt),
            change.listId === null ? undefined : eq(subscriptions.listId, change.listId),
          ),
        );
      for (const { listId } of ended) increments.push({ day: dayOf(change.at), listId, unsubscribes: 1 });
    }
  }
  await addDailyCounts(tx, increments);
}

/** Consent events per read while backfilling: a short query each, nothing held but the day totals. */
const BACKFILL_BATCH = 5000;
const BACKFILL_ACTIONS = { subscribe_requested: 'signups', confirmed: 'confirmations', unsubscribed: 'unsubscribes' } as const;

/**
 * Data migration: the rollup for an installation that kept consent events before it existed.
 * Each day row is set (not added to) from the consent trail: signup requests, confirmations and
 * unsubscribes, by list and UTC day, read in keyset batches. Setting makes it idempotent. The
 * trail is close to, not exactly, what is counted live: it has no event for a resubscribe that
 * restores a confirmed subscription, and it records an unsubscribe for pending subscriptions
 * ended with "every list".
 */
export async function backfillDailyStats(tx: Scope): Promise<{ days: number }> {
  const { consentEvents, dailyListStats } = tx.tables;
  const totals = new Map<string, DailyCounts>();
  let after = 0;
  for (;;) {
    const events = await tx.db
      .select({ id: consentEvents.id, listId: consentEvents.listId, action: consentEvents.action, at: consentEvents.at })
      .from(consentEvents)
      .where(
        and(gt(consentEvents.id, after), inArray(consentEvents.action, Object.keys(BACKFILL_ACTIONS)), isNotNull(consentEvents.listId)),
      )
      .orderBy(asc(consentEvents.id))
      .limit(BACKFILL_BATCH);
    if (events.length === 0) break;
    after = events.at(-1)!.id;
    for (const event of events) {
      const day = dayOf(event.at);
      const key = `${day}|${event.listId}`;
      const row = totals.get(key) ?? { day, listId: event.listId!, signups: 0, confirmations: 0, unsubscribes: 0, reminders: 0 };
      row[BACKFILL_ACTIONS[event.action as keyof typeof BACKFILL_ACTIONS]] += 1;
      totals.set(key, row);
    }
  }
  const rows = [...totals.values()];
  for (let i = 0; i < rows.length; i += 500) {
    await tx.db
      .insert(dailyListStats)
      .values(rows.slice(i, i + 500))
      .onConflictDoUpdate({
        target: [dailyListStats.day, dailyListStats.listId],
        set: { signups: sql`excluded.signups`, confirmations: sql`excluded.confirmations`, unsubscribes: sql`excluded.unsubscribes` },
      });
  }
  return { days: rows.length };
}
