import { desc, eq, sql } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import { OUTBOX_STATUSES, type MessageKind, type OutboxStatus } from '../../platform/db/schema.js';

/** Outbox rows by status, every status present (0 when none): the backlog is "queued". */
export async function outboxCounts(scope: Scope): Promise<Record<OutboxStatus, number>> {
  const { outbox } = scope.tables;
  const counts = Object.fromEntries(OUTBOX_STATUSES.map((status) => [status, 0])) as Record<OutboxStatus, number>;
  // PostgreSQL returns count(*) as a string (a bigint): mapWith makes it a number on both engines.
  const rows = await scope.db
    .select({ status: outbox.status, count: sql<number>`count(*)`.mapWith(Number) })
    .from(outbox)
    .groupBy(outbox.status);
  for (const row of rows) counts[row.status] = row.count;
  return counts;
}

export interface FailedMessage {
  id: string;
  kind: MessageKind;
  /** null once the contact has been erased. */
  email: string | null;
  list: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: number;
}

/**
 * Messages given up on (retries exhausted, or a permanent SMTP refusal), newest first.
 * For admin views; the count is also exported as optin_outbox_messages{status="failed"}.
 */
export function listFailedMessages(scope: Scope, limit = 100): Promise<FailedMessage[]> {
  const { contacts, lists, outbox, subscriptions } = scope.tables;
  return scope.db
    .select({
      id: outbox.id,
      kind: outbox.kind,
      email: contacts.email,
      list: lists.slug,
      attempts: outbox.attempts,
      lastError: outbox.lastError,
      createdAt: outbox.createdAt,
    })
    .from(outbox)
    .leftJoin(subscriptions, eq(subscriptions.id, outbox.subscriptionId))
    .leftJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .leftJoin(lists, eq(lists.id, subscriptions.listId))
    .where(eq(outbox.status, 'failed'))
    .orderBy(desc(outbox.createdAt))
    .limit(limit);
}
