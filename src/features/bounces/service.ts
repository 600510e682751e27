import { eq, lt } from 'drizzle-orm';
import type { Database, Scope } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import { parseReportedAddress, type CanonicalAddress } from '../../platform/mail/address.js';
import { recordChanges } from '../changes/index.js';
import { recordConsent } from '../policy/index.js';
import { suppressAddress } from '../policy/index.js';

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

/** A signature that covers a one-time token rather than the body (Mailgun): the token may be used once. */
export interface SignatureToken {
  token: string;
  /** When the signature goes stale anyway; the token need not be remembered past it. */
  expiresAt: number;
}

const SUPPRESSING = { hard_bounce: 'bounced', complaint: 'complained' } as const;

/**
 * The address of every event that acts on one, read before anything is written: an event whose
 * address cannot be read is refused with the whole request (400 naming it) and not marked
 * used, so the provider's retry is applied rather than dismissed as a duplicate.
 */
function readAddresses(events: readonly ProviderEvent[]): Map<ProviderEvent, CanonicalAddress> {
  const addresses = new Map<ProviderEvent, CanonicalAddress>();
  for (const event of events) {
    if (event.kind !== 'hard_bounce' && event.kind !== 'complaint') continue;
    const parsed = parseReportedAddress(event.email);
    if (!parsed.ok) {
      throw new AppError(
        400,
        'invalid_email',
        `Event "${event.id}": the address cannot be read (${parsed.message}) Nothing in this request was applied.`,
      );
    }
    addresses.set(event, parsed.address);
  }
  return addresses;
}

/**
 * Refuses a token already used by a request with other events. Kept in the database, in the
 * transaction that applies the events (not in Redis): a token counts as used exactly when its
 * events were applied, so a refused or failed request burns nothing, and Redis being away
 * neither opens the gate nor closes the webhook. The same request again is let through: its
 * events are duplicates and change nothing.
 */
async function useToken(tx: Scope, provider: string, signature: SignatureToken, eventIds: string, now: number): Promise<void> {
  const { webhookTokens } = tx.tables;
  const token = `${provider}:${signature.token}`;
  await tx.db.delete(webhookTokens).where(lt(webhookTokens.expiresAt, now));
  // Many processes: the token's primary key decides. Of two requests with one token at once, the
  // second's insert waits for the first to commit and then inserts nothing; it reads the row the
  // first wrote and is refused unless it carries the same events.
  const claimed = await tx.db
    .insert(webhookTokens)
    .values({ token, provider, eventIds, expiresAt: signature.expiresAt })
    .onConflictDoNothing()
    .returning({ token: webhookTokens.token });
  if (claimed.length > 0) return;
  const [used] = await tx.db.select({ eventIds: webhookTokens.eventIds }).from(webhookTokens).where(eq(webhookTokens.token, token));
  if (used && used.eventIds !== eventIds) {
    throw new AppError(401, 'signature_reused', 'This webhook signature was already used for other events.');
  }
}

/**
 * Applies provider events once each. Hard bounces and complaints put the address on the
 * suppression list for every list; soft bounces and other events are only recorded as seen.
 * An event id already seen (a replay, or the provider retrying) changes nothing.
 */
export async function applyProviderEvents(
  database: Database,
  secrets: readonly string[],
  provider: string,
  events: readonly ProviderEvent[],
  now = Date.now(),
  signature?: SignatureToken,
): Promise<WebhookResult> {
  const addresses = readAddresses(events);
  return database.transaction(async (tx) => {
    const { contacts, webhookEvents } = tx.tables;
    const result: WebhookResult = { applied: [], duplicates: 0 };
    if (signature) await useToken(tx, provider, signature, JSON.stringify(events.map((e) => e.id)), now);
    for (const event of events) {
      // The event id's primary key applies each event once, however many processes receive it.
      const fresh = await tx.db
        .insert(webhookEvents)
        .values({ id: `${provider}:${event.id}`, provider, receivedAt: now })
        .onConflictDoNothing()
        .returning({ id: webhookEvents.id });
      if (fresh.length === 0) {
        result.duplicates += 1;
        continue;
      }
      result.applied.push(event.kind);
      const address = addresses.get(event);
      if (!address || (event.kind !== 'hard_bounce' && event.kind !== 'complaint')) continue;
      const { emailKey, domain } = address;
      const reason = SUPPRESSING[event.kind];
      const entry = await suppressAddress(tx, secrets, { emailKey, domain, listId: null, reason, source: `webhook ${provider}`, at: now });
      if (entry.created) {
        const [contact] = await tx.db.select({ id: contacts.id }).from(contacts).where(eq(contacts.emailKey, emailKey));
        await recordConsent(tx, {
          contactId: contact?.id ?? null,
          listId: null,
          action: 'suppressed',
          at: now,
          detail: `${reason} (${provider}): ${event.detail}`,
        });
        await recordChanges(tx, [{ type: 'contact.suppressed', email: emailKey, listId: null, reason, at: now }]);
      }
    }
    return result;
  });
}
