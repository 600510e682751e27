import { and, asc, eq, gte, isNotNull, or, sum } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import { countsByList } from '../lists/index.js';
import { dayOf } from './dailyStats.js';
import { findListBySlug } from '../lists/index.js';

export interface ListCounts {
  slug: string;
  counts: { pending: number; confirmed: number; unsubscribed: number };
}

export interface DayStats {
  date: string;
  signups: number;
  confirmations: number;
  unsubscribes: number;
  /** Reminders written to requests still unconfirmed after CONFIRM_REMINDER_AFTER. */
  reminders: number;
}

export interface Stats {
  lists: ListCounts[];
  /** Oldest first, today last, every day present (zeros included). */
  days: DayStats[];
  /** Confirmations / signups over the days shown (all lists, or the one asked for); null without signups. */
  confirmationRate: number | null;
}

export const MAX_STATS_DAYS = 365;

/** The `days` of a request: a whole number from 1 to 365, 30 when none is given. */
export function statsDaysOf(value: string | undefined): number {
  if (value === undefined || value === '') return 30;
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > MAX_STATS_DAYS) {
    throw new AppError(400, 'invalid_days', `The days must be a whole number from 1 to ${MAX_STATS_DAYS}.`);
  }
  return Number(value);
}

const DAY_MS = 86_400_000;

type StatusCounts = Awaited<ReturnType<typeof countsByList>>;

interface CachedCounts {
  at: number;
  rows: Promise<StatusCounts>;
  refreshing: boolean;
}

/** The last count of every list, per database handle (so per process and database). */
const cachedCounts = new WeakMap<Scope['db'], CachedCounts>();

/**
 * Subscriptions per list and status. Counting them reads every entry of the index (a million at a
 * million contacts: tens of milliseconds), so with `maxAgeMs` > 0 each process keeps the last
 * count of every list: younger than maxAgeMs it is served as it is; older, it is still served
 * while a new count runs in the background (stale-while-revalidate). Only the first request after
 * a start waits for a count. With `maxAgeMs` 0 every request counts.
 */
async function statusCounts(scope: Scope, listId: number | undefined, maxAgeMs: number, now: number): Promise<StatusCounts> {
  if (maxAgeMs <= 0) return countsByList(scope, listId);
  const forget = (entry: CachedCounts) => () => {
    if (cachedCounts.get(scope.db) === entry) cachedCounts.delete(scope.db);
  };
  let entry = cachedCounts.get(scope.db);
  if (!entry) {
    entry = { at: now, rows: countsByList(scope, undefined), refreshing: false };
    entry.rows.catch(forget(entry));
    cachedCounts.set(scope.db, entry);
  } else if (now - entry.at >= maxAgeMs && !entry.refreshing) {
    const stale = entry;
    stale.refreshing = true;
    const fresh = countsByList(scope, undefined);
    fresh.then(
      () => cachedCounts.set(scope.db, { at: Date.now(), rows: fresh, refreshing: false }),
      () => (stale.refreshing = false),
    );
  }
  const counts = await entry.rows;
  return listId === undefined ? counts : new Map([...counts].filter(([id]) => id === listId));
}

/**
 * The dashboard's numbers. Counts per list and status are `count(*) … group by` over the index
 * subscriptions_list_status (list_id, status, id), read from the index alone, and kept per
 * process for up to `countsMaxAgeMs` (statusCounts); the days come from the daily_list_stats
 * rollup (a row per list and day), so neither reads the events themselves.
 * A status count is what the subscriptions say: a confirmed subscriber whose address was later
 * suppressed still counts as confirmed here (the subscribers list and export leave it out).
 */
export async function dashboardStats(
  scope: Scope,
  query: { list?: string | undefined; days: number; countsMaxAgeMs: number },
  now = Date.now(),
): Promise<Stats> {
  const { lists, dailyListStats } = scope.tables;
  const only = query.list ? await findListBySlug(scope, query.list) : undefined;
  const listRows = only
    ? [{ id: only.id, slug: only.slug }]
    : await scope.db.select({ id: lists.id, slug: lists.slug }).from(lists).orderBy(asc(lists.slug));
  const countsOf = new Map(listRows.map((l) => [l.id, { pending: 0, confirmed: 0, unsubscribed: 0 }]));
  for (const [listId, counts] of await statusCounts(scope, only?.id, query.countsMaxAgeMs, now)) {
    if (countsOf.has(listId)) countsOf.set(listId, counts);
  }

  const dates = Array.from({ length: query.days }, (_, i) => dayOf(now - (query.days - 1 - i) * DAY_MS));
  const dayRows = await scope.db
    .select({
      day: dailyListStats.day,
      signups: sum(dailyListStats.signups),
      confirmations: sum(dailyListStats.confirmations),
      unsubscribes: sum(dailyListStats.unsubscribes),
      reminders: sum(dailyListStats.reminders),
    })
    .from(dailyListStats)
    .where(and(gte(dailyListStats.day, dates[0]!), only ? eq(dailyListStats.listId, only.id) : undefined))
    .groupBy(dailyListStats.day);
  const byDay = new Map(dayRows.map((r) => [r.day, r]));
  const days = dates.map((date) => {
    const row = byDay.get(date);
    return {
      date,
      signups: Number(row?.signups ?? 0),
      confirmations: Number(row?.confirmations ?? 0),
      unsubscribes: Number(row?.unsubscribes ?? 0),
      reminders: Number(row?.reminders ?? 0),
    };
  });
  const signups = days.reduce((n, d) => n + d.signups, 0);
  const confirmations = days.reduce((n, d) => n + d.confirmations, 0);
  return {
    lists: listRows.map((l) => ({ slug: l.slug, counts: countsOf.get(l.id)! })),
    days,
    confirmationRate: signups === 0 ? null : Math.round((confirmations / signups) * 10_000) / 10_000,
  };
}

export interface FailingEndpoint {
  url: string;
  enabled: boolean;
  failingSince: string | null;
  disabledReason: string | null;
}

/** Outbound webhook endpoints whose deliveries keep failing, or that the service disabled, for the dashboard. */
export async function failingWebhookEndpoints(scope: Scope): Promise<FailingEndpoint[]> {
  const { webhookEndpoints } = scope.tables;
  const rows = await scope.db
    .select({
      url: webhookEndpoints.url,
      enabled: webhookEndpoints.enabled,
      failingSince: webhookEndpoints.failingSince,
      disabledReason: webhookEndpoints.disabledReason,
    })
    .from(webhookEndpoints)
    .where(or(isNotNull(webhookEndpoints.failingSince), isNotNull(webhookEndpoints.disabledReason)))
    .orderBy(asc(webhookEndpoints.url));
  return rows.map((r) => ({ ...r, failingSince: r.failingSince === null ? null : new Date(r.failingSince).toISOString() }));
}
