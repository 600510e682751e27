import { and, eq, ne, sql } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';

/**
 * Removes an erased address from the finished deliveries that carried it (their bodies, their
 * errors): what was told is kept as a record of the event, not of the person. Queued ones keep it
 * until they are sent; the erasure's own delivery does this again, for its endpoint, when it ends.
 * Matched on the exact JSON `"email":"…"` (replace() changes something), not LIKE, whose `_` would
 * match other addresses. Erasures are rare, so the scan of the deliveries is paid rarely.
 */
export async function forgetAddressInDeliveries(tx: Scope, email: string, endpointId?: string): Promise<void> {
  const { webhookDeliveries, webhookAttempts } = tx.tables;
  const told = `"email":${JSON.stringify(email)}`;
  const scrubbed = sql`replace(${webhookDeliveries.payload}, ${told}, '"email":null')`;
  const changed = await tx.db
    .update(webhookDeliveries)
    .set({ payload: scrubbed, lastError: sql`replace(${webhookDeliveries.lastError}, ${email}, '[erased]')` })
    .where(
      and(
        ne(webhookDeliveries.status, 'queued'),
        sql`${scrubbed} <> ${webhookDeliveries.payload}`,
        endpointId === undefined ? undefined : eq(webhookDeliveries.endpointId, endpointId),
      ),
    )
    .returning({ id: webhookDeliveries.id });
  for (const { id } of changed) {
    await tx.db
      .update(webhookAttempts)
      .set({ error: sql`replace(${webhookAttempts.error}, ${email}, '[erased]')` })
      .where(eq(webhookAttempts.deliveryId, id));
  }
}
