import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { contacts, webhookEvents } from '../db/schema.js';
import { parseAddress } from '../subscriptions/address.js';
import { recordConsent } from '../subscriptions/consent.js';
import { suppressAddress } from '../subscriptions/suppression.js';

/** What a provider told us, in the provider-neutral form the rest of the service understands. */
export interface ProviderEvent {
  /** The provider's id for the event: the same event delivered twice carries the same id. */
  id: string;
  kind: 'hard_bounce' | 'soft_bounce' | 'complaint' | 'other';
  email: string;
  /** Provider's wording, kept in the consent log. */
  detail: string;
}

export interface WebhookResult {
  /** The kinds of the events applied now, one entry per event. */
  applied: ProviderEvent['kind'][];
  /** Events already applied before (replays), which changed nothing. */
  duplicates: number;
}

const SUPPRESSING = { hard_bounce: 'bounced', complaint: 'complained' } as const;

/**
 * Applies provider events once each. Hard bounces and complaints put the address on the
 * suppression list for every list; soft bounces and other events are only recorded as seen.
 * An event id already seen (a replay, or the provider retrying) changes nothing.
 */
export function applyProviderEvents(
  db: Db,
  secrets: readonly string[],
  provider: string,
  events: readonly ProviderEvent[],
  now = Date.now(),
): WebhookResult {
  const result: WebhookResult = { applied: [], duplicates: 0 };
  writeTransaction(db, (tx) => {
    for (const event of events) {
      const seen = tx
        .insert(webhookEvents)
        .values({ id: `${provider}:${event.id}`, provider, receivedAt: now })
        .onConflictDoNothing()
        .run();
      if (seen.changes === 0) {
        result.duplicates += 1;
        continue;
      }
      result.applied.push(event.kind);
      if (event.kind !== 'hard_bounce' && event.kind !== 'complaint') continue;
      const parsed = parseAddress(event.email);
      if (!parsed.ok) continue;
      const { emailKey, domain } = parsed.address;
      const reason = SUPPRESSING[event.kind];
      const entry = suppressAddress(tx, secrets, { emailKey, domain, listId: null, reason, source: `webhook ${provider}`, at: now });
      if (entry.created) {
        const contact = tx.select({ id: contacts.id }).from(contacts).where(eq(contacts.emailKey, emailKey)).get();
        recordConsent(tx, { contactId: contact?.id ?? null, listId: null, action: 'suppressed', at: now, detail: `${reason} (${provider}): ${event.detail}` });
      }
    }
  });
  return result;
}
