import { and, asc, desc, eq, gte, inArray, isNotNull } from 'drizzle-orm';
import type { Database, Scope } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import { recordConsent, type RequestOrigin } from '../policy/index.js';

/** Why people leave: the choices of the optional form after an unsubscribe. */
export const LEAVING_REASONS = ['too_many', 'not_relevant', 'never_signed_up', 'other'] as const;
export type LeavingReason = (typeof LEAVING_REASONS)[number];
export const REASON_COMMENT_MAX = 500;

/**
 * The consent event's `detail`: the reason, the free text while the person is not erased, and
 * the opt-out it answers (the subscription's `unsubscribedAt`): one answer counts per opt-out,
 * the latest, however often the form is posted.
 */
interface ReasonDetail {
  reason: LeavingReason;
  comment?: string;
  optOutAt?: number;
}

export function isLeavingReason(value: unknown): value is LeavingReason {
  return typeof value === 'string' && (LEAVING_REASONS as readonly string[]).includes(value);
}

/** The detail without the free text: what an erased or minimised person's answer keeps. */
export function anonymousReasonDetail(detail: string | null): string | null {
  const parsed = parseDetail(detail);
  return parsed ? JSON.stringify({ reason: parsed.reason, ...(parsed.optOutAt !== undefined ? { optOutAt: parsed.optOutAt } : {}) }) : null;
}

function parseDetail(detail: string | null): ReasonDetail | null {
  if (detail === null) return null;
  try {
    const value = JSON.parse(detail) as Partial<ReasonDetail>;
    return isLeavingReason(value.reason)
      ? {
          reason: value.reason,
          ...(typeof value.comment === 'string' ? { comment: value.comment } : {}),
          ...(typeof value.optOutAt === 'number' ? { optOutAt: value.optOutAt } : {}),
        }
      : null;
  } catch {
    return null;
  }
}

/**
 * Records why a person left these lists. Only lists they are unsubscribed from count (the form
 * comes after the opt-out, never before). The event's source is where they first signed up to
 * that list, so "I never signed up" can be counted per signup source. An empty answer records
 * nothing. A second answer to the same opt-out is written too (the trail is append-only) and
 * replaces the first wherever answers are counted. Returns how many events were written.
 */
export async function recordLeavingReason(
  database: Database,
  request: { contactId: number; listIds: readonly number[]; reason: LeavingReason | null; comment: string | null; origin: RequestOrigin },
  now = Date.now(),
): Promise<number> {
  if (request.reason === null && !request.comment) return 0;
  const reason: LeavingReason = request.reason ?? 'other';
  const comment = request.comment?.trim().slice(0, REASON_COMMENT_MAX) || undefined;
  if (request.listIds.length === 0) return 0;
  return database.transaction(async (tx) => {
    const { consentEvents, subscriptions } = tx.tables;
    const left = await tx.db
      .select({ listId: subscriptions.listId, unsubscribedAt: subscriptions.unsubscribedAt })
      .from(subscriptions)
      .where(
        and(
          eq(subscriptions.contactId, request.contactId),
          eq(subscriptions.status, 'unsubscribed'),
          inArray(subscriptions.listId, [...request.listIds]),
        ),
      );
    for (const { listId, unsubscribedAt } of left) {
      const [signup] = await tx.db
        .select({ source: consentEvents.source })
        .from(consentEvents)
        .where(
          and(
            eq(consentEvents.contactId, request.contactId),
            eq(consentEvents.listId, listId),
            eq(consentEvents.action, 'subscribe_requested'),
          ),
        )
        .orderBy(asc(consentEvents.at), asc(consentEvents.id))
        .limit(1);
      await recordConsent(tx, {
        contactId: request.contactId,
        listId,
        action: 'unsubscribe_reason',
        at: now,
        origin: { ip: null, userAgent: null, source: signupSource(signup?.source ?? null) },
        detail: JSON.stringify({
          reason,
          ...(comment ? { comment } : {}),
          ...(unsubscribedAt !== null ? { optOutAt: unsubscribedAt } : {}),
        } satisfies ReasonDetail),
      });
    }
    return left.length;
  });
}

/** Where a signup came from, without its query string (which may carry anything, an address included). */
function signupSource(source: string | null): string | null {
  if (!source) return null;
  try {
    const url = new URL(source);
    return `${url.origin}${url.pathname}`;
  } catch {
    return null;
  }
}

/** Checks the form: `reason` one of LEAVING_REASONS or empty, `comment` at most 500 characters. */
export function checkReason(value: string | undefined): LeavingReason | null {
  if (value === undefined || value === '') return null;
  if (!isLeavingReason(value)) throw new AppError(400, 'invalid_reason', `The reason must be one of: ${LEAVING_REASONS.join(', ')}.`);
  return value;
}

type Counts = Record<LeavingReason, number>;
const zero = (): Counts => ({ too_many: 0, not_relevant: 0, never_signed_up: 0, other: 0 });

/** What GET /admin/api/reasons answers. */
export interface ReasonsReport {
  counts: Counts;
  /** One entry per UTC day of the period, oldest first, days without answers included. */
  days: ({ day: string } & Counts)[];
  /** The latest free-text answers of people not erased, newest first. */
  latest: { at: string; list: string | null; reason: LeavingReason; comment: string }[];
  /** "I never signed up" is a sign of abuse: per list and per signup source. */
  neverSignedUp: { byList: Record<string, number>; bySource: Record<string, number> };
}

const DAY_MS = 86_400_000;
const LATEST = 20;

/** The opt-out an answer is about (null for answers written before answers named it: each counts). */
function answerKey(contactId: number | null, list: string | null, detail: ReasonDetail): string | null {
  if (detail.optOutAt === undefined) return null;
  return `${contactId ?? 'erased'}|${list ?? ''}|${detail.optOutAt}`;
}

/** Reasons given in the last `days` days, for one list (slug) or all; one answer per opt-out. */
export async function reasonsReport(
  scope: Scope,
  query: { list?: string | undefined; days: number },
  now = Date.now(),
): Promise<ReasonsReport> {
  const { consentEvents, lists } = scope.tables;
  let listId: number | undefined;
  if (query.list) {
    const [list] = await scope.db.select({ id: lists.id }).from(lists).where(eq(lists.slug, query.list));
    if (!list) throw new AppError(404, 'unknown_list', `There is no list called "${query.list}".`);
    listId = list.id;
  }
  const firstDay = Math.floor(now / DAY_MS) * DAY_MS - (query.days - 1) * DAY_MS;
  const rows = await scope.db
    .select({
      at: consentEvents.at,
      contactId: consentEvents.contactId,
      detail: consentEvents.detail,
      source: consentEvents.source,
      list: lists.slug,
    })
    .from(consentEvents)
    .leftJoin(lists, eq(lists.id, consentEvents.listId))
    .where(
      and(
        eq(consentEvents.action, 'unsubscribe_reason'),
        gte(consentEvents.at, firstDay),
        listId === undefined ? undefined : eq(consentEvents.listId, listId),
      ),
    )
    .orderBy(desc(consentEvents.at), desc(consentEvents.id));
  const report: ReasonsReport = { counts: zero(), days: [], latest: [], neverSignedUp: { byList: {}, bySource: {} } };
  const byDay = new Map<string, Counts>();
  for (let day = firstDay; day <= now; day += DAY_MS) byDay.set(new Date(day).toISOString().slice(0, 10), zero());
  // Newest first: the first answer seen for an opt-out is the one that counts.
  const answered = new Set<string>();
  for (const row of rows) {
    const detail = parseDetail(row.detail);
    if (!detail) continue;
    const optOut = answerKey(row.contactId, row.list, detail);
    if (optOut !== null) {
      if (answered.has(optOut)) continue;
      answered.add(optOut);
    }
    report.counts[detail.reason] += 1;
    const day = byDay.get(new Date(row.at).toISOString().slice(0, 10));
    if (day) day[detail.reason] += 1;
    if (detail.reason === 'never_signed_up') {
      const list = row.list ?? '(deleted list)';
      report.neverSignedUp.byList[list] = (report.neverSignedUp.byList[list] ?? 0) + 1;
      const source = row.source ?? '(unknown)';
      report.neverSignedUp.bySource[source] = (report.neverSignedUp.bySource[source] ?? 0) + 1;
    }
    if (detail.comment && row.contactId !== null && report.latest.length < LATEST) {
      report.latest.push({ at: new Date(row.at).toISOString(), list: row.list, reason: detail.reason, comment: detail.comment });
    }
  }
  report.days = [...byDay].map(([day, counts]) => ({ day, ...counts }));
  return report;
}

/**
 * Before an erasure deletes a contact's trail: its reasons for leaving are written again without
 * the person (no contact, no free text, no IP), so they keep counting. Runs in the erasure's transaction.
 */
export async function keepReasonsAnonymously(tx: Scope, contactId: number): Promise<void> {
  const { consentEvents } = tx.tables;
  const reasons = await tx.db
    .select()
    .from(consentEvents)
    .where(and(eq(consentEvents.contactId, contactId), eq(consentEvents.action, 'unsubscribe_reason'), isNotNull(consentEvents.detail)))
    .orderBy(desc(consentEvents.at), desc(consentEvents.id));
  // Only the latest answer to each opt-out is kept: without the person, answers can no longer be told apart.
  const answered = new Set<string>();
  const kept = reasons.filter((event) => {
    const detail = parseDetail(event.detail);
    const key = detail ? answerKey(contactId, String(event.listId), detail) : null;
    if (key === null) return true;
    if (answered.has(key)) return false;
    answered.add(key);
    return true;
  });
  for (const event of kept.reverse()) {
    await recordConsent(tx, {
      contactId: null,
      listId: event.listId,
      action: 'unsubscribe_reason',
      at: event.at,
      origin: { ip: null, userAgent: null, source: event.source },
      detail: anonymousReasonDetail(event.detail) ?? undefined,
    });
  }
}
