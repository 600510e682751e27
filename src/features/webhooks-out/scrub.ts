import { eq, inArray, sql } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';

/** How an erased address is told in a stored body: `"email":null`. */
const ERASED_EMAIL = '"email":null';

/**
 * At an erasure, removes the address from every delivery that holds it, whatever its state or
 * endpoint (those that ended, those still queued, those of endpoints that do not listen to
 * `contact.erased`), and from the error text of their attempts: what was told stays a record of
 * the event, not of the person. A delivery still queued is not sent any more (status `erased`):
 * with its address gone it would tell nothing. The erasure's own deliveries are written after
 * this, and keep the address until they end (forgetAddressInDelivery).
 * Matched on the exact JSON `"email":"…"` (replace() changes something), not LIKE, whose `_`
 * would match other addresses. Erasures are rare, so the scan of the deliveries is paid rarely.
 */
export async function forgetAddressInDeliveries(tx: Scope, email: string): Promise<void> {
  const { webhookDeliveries } = tx.tables;
  const scrubbed = sql`replace(${webhookDeliveries.payload}, ${told(email)}, ${ERASED_EMAIL})`;
  const changed = await tx.db
    .update(webhookDeliveries)
    .set({
      payload: scrubbed,
      lastError: sql`replace(${webhookDeliveries.lastError}, ${email}, '[erased]')`,
      status: sql`case when ${webhookDeliveries.status} = 'queued' then 'erased' else ${webhookDeliveries.status} end`,
      finishedAt: sql`coalesce(${webhookDeliveries.finishedAt}, ${Date.now()})`,
    })
    .where(sql`${scrubbed} <> ${webhookDeliveries.payload}`)
    .returning({ id: webhookDeliveries.id });
  await forgetInAttempts(
    tx,
    changed.map((row) => row.id),
    email,
  );
}

/** After an erasure's own delivery has ended (delivered or given up), the address leaves it too. */
export async function forgetAddressInDelivery(tx: Scope, deliveryId: string, email: string): Promise<void> {
  const { webhookDeliveries } = tx.tables;
  await tx.db
    .update(webhookDeliveries)
    .set({
      payload: sql`replace(${webhookDeliveries.payload}, ${told(email)}, ${ERASED_EMAIL})`,
      lastError: sql`replace(${webhookDeliveries.lastError}, ${email}, '[erased]')`,
    })
    .where(eq(webhookDeliveries.id, deliveryId));
  await forgetInAttempts(tx, [deliveryId], email);
}

/** Whether a stored delivery's body had its address removed: it cannot be sent again. */
export function isScrubbed(payload: string): boolean {
  const body = JSON.parse(payload) as { data?: { email?: unknown } };
  return body.data?.email === null;
}

const told = (email: string) => `"email":${JSON.stringify(email)}`;

async function forgetInAttempts(tx: Scope, deliveryIds: readonly string[], email: string): Promise<void> {
  const { webhookAttempts } = tx.tables;
  // In slices, as the engines bound the parameters of one statement.
  for (let start = 0; start < deliveryIds.length; start += 500) {
    await tx.db
      .update(webhookAttempts)
      .set({ error: sql`replace(${webhookAttempts.error}, ${email}, '[erased]')` })
      .where(inArray(webhookAttempts.deliveryId, deliveryIds.slice(start, start + 500)));
  }
}
