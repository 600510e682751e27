import type { Scope } from '../../platform/db/database.js';
import type { SuppressionReason } from '../../platform/db/schema.js';
import { enqueueWebhookDeliveries } from '../webhooks-out/index.js';
import { countChanges } from '../dashboard/index.js';

/** How a subscription was ended, as the outside world is told: the person's link, their preference page, or an admin. */
export type UnsubscribeSource = 'one-click' | 'page' | 'preferences' | 'admin';

/**
 * What changed for a person, as other systems must learn it (outbound webhooks) and the
 * dashboard counts it. `email` is the canonical, lower-cased address (the identity every
 * comparison uses); `listId` null means every list.
 */
export type Change =
  | { type: 'subscription.confirmed'; email: string; listId: number; locale: string; at: number }
  | { type: 'subscription.unsubscribed'; email: string; listId: number | null; source: UnsubscribeSource; at: number }
  | {
      type: 'contact.suppressed';
      email: string;
      listId: number | null;
      reason: Exclude<SuppressionReason, 'unsubscribed' | 'erased'>;
      at: number;
    }
  | { type: 'contact.erased'; email: string; at: number };

/**
 * Records changes inside the transaction that made them, so what follows them (a webhook
 * delivery, a dashboard count) is committed with them or not at all: nothing is lost when
 * Redis or a receiver is down, and nothing is told that did not happen. Every domain path
 * that confirms, ends, suppresses or erases calls it once, beside its consent event.
 */
export async function recordChanges(tx: Scope, changes: readonly Change[]): Promise<void> {
  if (changes.length === 0) return;
  await enqueueWebhookDeliveries(tx, changes);
  await countChanges(tx, changes);
}
