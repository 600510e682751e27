import { and, asc, desc, eq, inArray } from 'drizzle-orm';
import type { Database } from '../../platform/db/database.js';
import type { WebhookDeliveryStatus } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { isScrubbed } from './scrub.js';
import { getEndpoint } from './service.js';

/** A delivery as admins see it: what was sent, how it ended, and each attempt. */
export interface DeliveryView {
  id: string;
  type: string;
  status: WebhookDeliveryStatus;
  payload: unknown;
  createdAt: string;
  finishedAt: string | null;
  attempts: { at: string; statusCode: number | null; durationMs: number; error: string | null }[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** An endpoint's most recent deliveries, newest first, with their attempts in order. */
export async function recentDeliveries(database: Database, endpointId: string, limit: number): Promise<DeliveryView[]> {
  await getEndpoint(database, endpointId);
  const { webhookDeliveries, webhookAttempts } = database.tables;
  const rows = await database.db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.endpointId, endpointId))
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(limit);
  const attempts =
    rows.length === 0
      ? []
      : await database.db
          .select()
          .from(webhookAttempts)
          .where(
            inArray(
              webhookAttempts.deliveryId,
              rows.map((row) => row.id),
            ),
          )
          .orderBy(asc(webhookAttempts.at), asc(webhookAttempts.id));
  return rows.map((row) => ({
    id: row.id,
    type: row.eventType,
    status: row.status,
    payload: JSON.parse(row.payload) as unknown,
    createdAt: iso(row.createdAt)!,
    finishedAt: iso(row.finishedAt),
    attempts: attempts
      .filter((attempt) => attempt.deliveryId === row.id)
      .map((attempt) => ({ at: iso(attempt.at)!, statusCode: attempt.statusCode, durationMs: attempt.durationMs, error: attempt.error })),
  }));
}

/**
 * "Send again": a delivered or failed delivery goes back to queued with a fresh retry schedule,
 * under the same id (the receiver's dedupe sees the same `webhook-id`). The relay hands it
 * within an interval. One whose erased address was removed (any delivery that held the address
 * of a person erased since) cannot be: there is nothing left to tell.
 */
export async function sendAgain(database: Database, endpointId: string, deliveryId: string): Promise<void> {
  const outcome = await database.transaction(async (tx) => {
    const { webhookDeliveries } = tx.tables;
    const [row] = await tx.db
      .select({ status: webhookDeliveries.status, payload: webhookDeliveries.payload })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.endpointId, endpointId)));
    if (!row) return 'unknown';
    if (row.status === 'queued') return 'queued';
    if (isScrubbed(row.payload)) return 'scrubbed';
    await tx.db
      .update(webhookDeliveries)
      .set({ status: 'queued', attempts: 0, handedAt: null, finishedAt: null })
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, row.status)));
    return 'requeued';
  });
  if (outcome === 'unknown') throw new AppError(404, 'unknown_webhook_delivery', 'There is no such delivery for this endpoint.');
  if (outcome === 'queued') throw new AppError(409, 'delivery_queued', 'This delivery is still queued: it is being tried already.');
  if (outcome === 'scrubbed')
    throw new AppError(
      409,
      'delivery_erased',
      'This erasure was told and its address removed from the stored copy: there is nothing left to send.',
    );
}
