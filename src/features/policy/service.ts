import { and, eq, inArray, isNull, max, ne, or, sql } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import { preparedPerHandle } from '../../platform/db/prepared.js';
import { DATA_LINK_TTL_MS } from '../../platform/http/tokens.js';
import type { MessageKind, SubscriptionStatus } from '../../platform/db/schema.js';
import { blockingEntriesOf, findSuppression, findSuppressions, type SuppressionMatch } from './suppressions.js';

/** Limits on confirmation emails to one address, whatever the lists (against list bombing). */
export interface ConfirmLimits {
  /** Shortest gap between two confirmation emails; 0: none. */
  cooldownMs: number;
  /** Most confirmation emails a day, and most unanswered ones in all (until one is confirmed); 0: no cap. */
  max: number;
}

const DAY_MS = 86_400_000;

export interface MailRequest {
  /** Lower-cased canonical address; null when the contact has been erased. */
  emailKey: string | null;
  listId: number;
  kind: MessageKind;
  subscriptionStatus: SubscriptionStatus | null;
  /** For a confirmation: when the pending request lapses. */
  confirmExpiresAt: number | null;
  /**
   * For a confirmation: the per-address limits against list bombing. Every path a stranger can
   * trigger (the signup, and the worker for every row) passes it; only a path that proves the
   * mailbox is the requester's own (a token from a mail we sent) may leave it out.
   */
  confirmBudget?: ConfirmBudget;
  /** For a goodbye: the opt-out it answers. Without it a goodbye is never allowed. */
  goodbye?: GoodbyeCheck;
  /** For an erase or export link: when the person asked for it (the row's creation time). Without it, never allowed. */
  dataLinkRequestedAt?: number;
  now: number;
}

/** What ties a goodbye row to one opt-out: the subscription, when it was ended, when the row was written. */
export interface GoodbyeCheck {
  subscriptionId: number;
  unsubscribedAt: number | null;
  /** The outbox row's creation time (or now, before it is written): equal to unsubscribedAt when written by that opt-out. */
  requestedAt: number;
  /** The outbox row being sent (worker), or null/absent before it exists (the opt-out). */
  outboxId?: string | null;
}

/** How long after its opt-out a goodbye may still go: later, it would be a mail to an opted-out address like any other. */
export const GOODBYE_WINDOW_MS = 15 * 60_000;

/**
 * At most one goodbye per subscription in this long: unsubscribing and resubscribing again and
 * again from one (perhaps forwarded) link must not become a way to flood the address.
 */
export const GOODBYE_INTERVAL_MS = DAY_MS;

export interface ConfirmBudget {
  /** The contact, when it exists already (its past confirmation emails count against the limits). */
  contactId: number | null;
  /** The outbox row being sent (worker), or null before it exists (signup). */
  outboxId: string | null;
  /** When the message was asked for: the row's creation time, or now at signup. */
  requestedAt: number;
  limits: ConfirmLimits;
}

export type MailDecision = { allowed: true } | { allowed: false; reason: string };

/**
 * The one place that decides whether an address may be mailed now. Every send path asks it:
 * the signup (before anything is queued) and the worker (again, right before the SMTP call).
 * It only reads: inside the caller's transaction (signup, confirm, resubscribe) or on the
 * Database (the worker). A database error propagates, so callers fail closed.
 */
export async function mayMail(scope: Scope, secrets: readonly string[], request: MailRequest): Promise<MailDecision> {
  if (request.emailKey === null) return decide(request, undefined);
  if (request.kind === 'goodbye') return goodbyeDecision(scope, secrets, request.emailKey, request);
  if (isDataLink(request.kind)) return dataLinkDecision(scope, secrets, request.emailKey, request);
  const suppression = await findSuppression(scope, secrets, request.emailKey, request.listId);
  return withBudget(scope, request, decide(request, suppression));
}

/**
 * mayMail for many requests at once (a page of subscribers, an export batch, a `mailable`
 * check): one suppression lookup per list and chunk of addresses instead of one per address,
 * then the same decision as mayMail for each. Decisions come back in the requests' order.
 */
export async function mayMailMany(scope: Scope, secrets: readonly string[], requests: readonly MailRequest[]): Promise<MailDecision[]> {
  const suppressionsByList = new Map<number, Map<string, SuppressionMatch>>();
  for (const listId of new Set(requests.map((r) => r.listId))) {
    const emailKeys = requests.flatMap((r) => (r.listId === listId && r.emailKey !== null ? [r.emailKey] : []));
    suppressionsByList.set(listId, await findSuppressions(scope, secrets, emailKeys, listId));
  }
  const decisions: MailDecision[] = [];
  for (const request of requests) {
    if (request.kind === 'goodbye' && request.emailKey !== null) {
      decisions.push(await goodbyeDecision(scope, secrets, request.emailKey, request));
      continue;
    }
    if (isDataLink(request.kind) && request.emailKey !== null) {
      decisions.push(await dataLinkDecision(scope, secrets, request.emailKey, request));
      continue;
    }
    const suppression = request.emailKey === null ? undefined : suppressionsByList.get(request.listId)!.get(request.emailKey);
    decisions.push(await withBudget(scope, request, decide(request, suppression)));
  }
  return decisions;
}

/** The decision once the address's blocking entry (if any) is known; the shared core of mayMail and mayMailMany. */
function decide(request: MailRequest, suppression: SuppressionMatch | undefined): MailDecision {
  if (request.emailKey === null) return { allowed: false, reason: 'erased' };
  if (suppression) return { allowed: false, reason: `suppressed:${suppression.reason}` };
  switch (request.kind) {
    // The one reminder of a request is a confirmation mail again: the same rules.
    case 'reminder':
    case 'confirmation':
      if (request.subscriptionStatus !== 'pending') return { allowed: false, reason: 'not_pending' };
      if (request.confirmExpiresAt === null || request.confirmExpiresAt <= request.now) {
        return { allowed: false, reason: 'confirmation_expired' };
      }
      return { allowed: true };
    case 'welcome':
    case 'broadcast':
      if (request.subscriptionStatus !== 'confirmed') return { allowed: false, reason: 'not_confirmed' };
      return { allowed: true };
    case 'goodbye':
    case 'erase_link':
    case 'export_link':
      // Not reached: mayMail and mayMailMany hand these to goodbyeDecision and dataLinkDecision. Closed all the same.
      return { allowed: false, reason: 'suppressed' };
  }
}

/**
 * The single, deliberate exception to an opt-out: the one short mail confirming it (lists with
 * `goodbyeEmail`). Allowed only for the subscription that opt-out ended, while it stays ended,
 * for a row written by that very opt-out (same instant), within GOODBYE_WINDOW_MS of it, while no
 * suppression entry covers the address but the one that opt-out created, and when no other
 * goodbye of that subscription went in the last GOODBYE_INTERVAL_MS (or still waits to go). A
 * bounce, a complaint, an admin block, an erasure, or an "every list" entry made by anyone else
 * stops it; so does a goodbye already sent for an earlier opt-out of the same subscription.
 */
async function goodbyeDecision(scope: Scope, secrets: readonly string[], emailKey: string, request: MailRequest): Promise<MailDecision> {
  const { goodbye } = request;
  if (request.subscriptionStatus !== 'unsubscribed') return { allowed: false, reason: 'not_unsubscribed' };
  if (!goodbye || goodbye.unsubscribedAt === null || goodbye.requestedAt !== goodbye.unsubscribedAt)
    return { allowed: false, reason: 'goodbye_not_of_this_opt_out' };
  if (request.now - goodbye.unsubscribedAt > GOODBYE_WINDOW_MS) return { allowed: false, reason: 'goodbye_window_passed' };
  const { suppressions } = scope.tables;
  const entries = await scope.db
    .select({ reason: suppressions.reason, createdByLink: suppressions.createdByLink, createdAt: suppressions.createdAt })
    .from(suppressions)
    .where(
      and(blockingEntriesOf(scope.tables, secrets, emailKey), or(isNull(suppressions.listId), eq(suppressions.listId, request.listId))),
    );
  const other = entries.find(
    (entry) =>
      !(entry.reason === 'unsubscribed' && entry.createdByLink === goodbye.subscriptionId && entry.createdAt === goodbye.unsubscribedAt),
  );
  if (other) return { allowed: false, reason: `suppressed:${other.reason}` };
  return (await earlierGoodbye(scope, goodbye, request.now)) ? { allowed: false, reason: 'goodbye_already_sent' } : { allowed: true };
}

/**
 * Whether another goodbye of this subscription went out within GOODBYE_INTERVAL_MS, or waits to
 * go and was asked for before this one: one in a worker's hands is still `queued` until its SMTP
 * server accepts it, so it must count as sent. (Before this row exists, every waiting one was
 * asked for before it.)
 */
async function earlierGoodbye(scope: Scope, goodbye: GoodbyeCheck, now: number): Promise<boolean> {
  const { outbox } = scope.tables;
  const rows = await scope.db
    .select({ id: outbox.id, status: outbox.status, createdAt: outbox.createdAt, sentAt: outbox.sentAt })
    .from(outbox)
    .where(and(eq(outbox.subscriptionId, goodbye.subscriptionId), eq(outbox.kind, 'goodbye'), inArray(outbox.status, ['queued', 'sent'])));
  const own = goodbye.outboxId ?? null;
  return rows.some((row) => {
    if (row.id === own) return false;
    if (row.status === 'sent') return (row.sentAt ?? row.createdAt) > now - GOODBYE_INTERVAL_MS;
    return row.createdAt < goodbye.requestedAt || (row.createdAt === goodbye.requestedAt && own !== null && row.id < own);
  });
}

/** A confirmation that passed everything else still has to fit the address's limits (when the caller gives them). */
function withBudget(scope: Scope, request: MailRequest, decision: MailDecision): Promise<MailDecision> | MailDecision {
  if (!decision.allowed || request.kind !== 'confirmation' || !request.confirmBudget) return decision;
  return confirmationBudget(scope, request.confirmBudget, request.now);
}

// Prepared once per scope: the signup and every confirmation the worker sends run them.
// CROSS JOIN keeps SQLite's join order (the contact's few subscriptions first, then their
// outbox rows by index); left to itself SQLite's planner walked every queued and sent outbox
// row. (PostgreSQL treats CROSS JOIN with a WHERE like an inner join and plans it itself.)
// The confirmations pruned from the outbox (OUTBOX_RETENTION) still count: their mail history
// rows come in the same statement (an unanswered one stays unanswered however old it is), with
// an id no outbox row has.
const confirmationsOfContact = preparedPerHandle(({ db, tables: { mailHistory, outbox, subscriptions } }: Scope) =>
  db
    .select({ id: outbox.id, status: outbox.status, createdAt: outbox.createdAt, sentAt: outbox.sentAt })
    .from(subscriptions)
    .crossJoin(outbox)
    .where(
      and(
        eq(subscriptions.contactId, sql.placeholder('contactId')),
        eq(outbox.subscriptionId, subscriptions.id),
        eq(outbox.kind, 'confirmation'),
        inArray(outbox.status, ['queued', 'sent']),
      ),
    )
    .unionAll(
      db
        .select({ id: sql<string>`''`, status: mailHistory.status, createdAt: mailHistory.createdAt, sentAt: mailHistory.sentAt })
        .from(subscriptions)
        .crossJoin(mailHistory)
        .where(
          and(
            eq(subscriptions.contactId, sql.placeholder('contactId')),
            eq(mailHistory.subscriptionId, subscriptions.id),
            eq(mailHistory.kind, 'confirmation'),
            eq(mailHistory.status, 'sent'),
          ),
        ),
    )
    .prepare('mail_policy_confirmations_of_contact'),
);
const lastConfirmationOf = preparedPerHandle(({ db, tables: { subscriptions } }: Scope) =>
  db
    .select({ at: max(subscriptions.confirmedAt) })
    .from(subscriptions)
    .where(eq(subscriptions.contactId, sql.placeholder('contactId')))
    .prepare('mail_policy_last_confirmation_of_contact'),
);

/**
 * List bombing defence: one address gets at most one confirmation email per cooldown, at most
 * `max` a day, and none once `max` have gone unanswered (until it confirms something). Counts
 * the contact's confirmation rows that were sent or are still queued (and so about to be sent);
 * a queued row asked for before this one counts as sent now, so two queued rows can't both pass.
 */
async function confirmationBudget(scope: Scope, request: ConfirmBudget, now: number): Promise<MailDecision> {
  const { limits, contactId } = request;
  if (contactId === null || (limits.cooldownMs <= 0 && limits.max <= 0)) return { allowed: true };
  const rows = await confirmationsOfContact(scope).execute({ contactId });
  const earlier = rows
    .filter((row) => row.id !== request.outboxId)
    .filter(
      (row) =>
        row.status === 'sent' ||
        row.createdAt < request.requestedAt ||
        (row.createdAt === request.requestedAt && request.outboxId !== null && row.id < request.outboxId),
    )
    .map((row) => ({ createdAt: row.createdAt, mailedAt: row.status === 'sent' ? (row.sentAt ?? row.createdAt) : now }));
  if (earlier.length === 0) return { allowed: true };

  if (limits.cooldownMs > 0 && earlier.some((row) => row.mailedAt > now - limits.cooldownMs)) {
    return { allowed: false, reason: 'confirm_cooldown' };
  }
  if (limits.max > 0) {
    if (earlier.filter((row) => row.mailedAt > now - DAY_MS).length >= limits.max) return { allowed: false, reason: 'confirm_daily_limit' };
    const lastConfirmed = (await lastConfirmationOf(scope).execute({ contactId }))[0]?.at ?? 0;
    if (earlier.filter((row) => row.createdAt > lastConfirmed).length >= limits.max)
      return { allowed: false, reason: 'confirm_unanswered' };
  }
  return { allowed: true };
}

const isDataLink = (kind: MessageKind): kind is 'erase_link' | 'export_link' => kind === 'erase_link' || kind === 'export_link';

/**
 * The person's own request for a link to erase or download their data (from the preference
 * centre, just now): the answer to it goes to the address even after its owner opted out of
 * every list, since erasure and access are rights an opt-out does not give up. It goes only
 * within DATA_LINK_TTL_MS of the request (later, the link would not work), and never to an
 * address that bounced, complained, was blocked by an admin or erased: only the person's own
 * opt-outs (`unsubscribed`) are no obstacle.
 */
async function dataLinkDecision(scope: Scope, secrets: readonly string[], emailKey: string, request: MailRequest): Promise<MailDecision> {
  if (request.dataLinkRequestedAt === undefined) return { allowed: false, reason: 'data_link_not_requested' };
  if (request.now - request.dataLinkRequestedAt > DATA_LINK_TTL_MS) return { allowed: false, reason: 'data_link_lapsed' };
  const { suppressions } = scope.tables;
  const [other] = await scope.db
    .select({ reason: suppressions.reason })
    .from(suppressions)
    .where(and(blockingEntriesOf(scope.tables, secrets, emailKey), ne(suppressions.reason, 'unsubscribed')))
    .limit(1);
  return other ? { allowed: false, reason: `suppressed:${other.reason}` } : { allowed: true };
}
