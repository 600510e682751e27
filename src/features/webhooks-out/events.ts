import { randomBytes } from 'node:crypto';
import { inArray } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import { preparedPerHandle } from '../../platform/db/prepared.js';
import type { Change } from '../changes/index.js';
import { forgetAddressInDeliveries } from './scrub.js';

/** The event types a receiver may subscribe to (docs/webhooks.md), in the order the console lists them. */
export const WEBHOOK_EVENT_TYPES = ['subscription.confirmed', 'subscription.unsubscribed', 'contact.suppressed', 'contact.erased'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The Standard Webhooks envelope: what is signed and sent, byte for byte, on every attempt. */
export interface WebhookBody {
  type: WebhookEventType;
  timestamp: string;
  data: Record<string, unknown>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The body told to receivers: the canonical address, the list's slug, never an IP or user agent. */
export function webhookBody(change: Change, slugs: ReadonlyMap<number, string>): WebhookBody {
  const list = (listId: number | null) => (listId === null ? null : (slugs.get(listId) ?? null));
  switch (change.type) {
    case 'subscription.confirmed':
      return {
        type: change.type,
        timestamp: iso(change.at),
        data: { email: change.email, list: list(change.listId), confirmedAt: iso(change.at), locale: change.locale },
      };
    case 'subscription.unsubscribed':
      return {
        type: change.type,
        timestamp: iso(change.at),
        data: { email: change.email, list: list(change.listId), at: iso(change.at), source: change.source },
      };
    case 'contact.suppressed':
      return {
        type: change.type,
        timestamp: iso(change.at),
        data: { email: change.email, reason: change.reason, list: list(change.listId) },
      };
    case 'contact.erased':
      return { type: change.type, timestamp: iso(change.at), data: { email: change.email } };
  }
}

/**
 * Every endpoint and what it listens to, enabled or not: a disabled one keeps collecting its
 * events, sent once it is enabled again. The one query the hot path pays when none is registered.
 */
const listeningEndpoints = preparedPerHandle((scope: Scope) => {
  const { webhookEndpoints } = scope.tables;
  return scope.db
    .select({ id: webhookEndpoints.id, events: webhookEndpoints.events })
    .from(webhookEndpoints)
    .prepare('outbound_listening_endpoints');
});

let lastIdAt = 0;
let sameMsCount = 0;

/**
 * A delivery id, sent as `webhook-id`: the Standard Webhooks spelling, unique, the same on every
 * attempt. It starts with the time and a per-process count, so ids made in one process sort in
 * the order they were made: deliveries written in the same millisecond (a batch) keep their order.
 */
export function newDeliveryId(): string {
  const now = Date.now();
  sameMsCount = now === lastIdAt ? sameMsCount + 1 : 0;
  lastIdAt = now;
  const time = now.toString(16).padStart(12, '0').slice(-12);
  const count = (sameMsCount & 0xffff).toString(16).padStart(4, '0');
  return `msg_${time}${count}${randomBytes(8).toString('hex')}`;
}

/**
 * Writes one delivery (an outbox row) per endpoint that listens to each change, enabled or not,
 * inside the transaction of the change: committed with it or not at all, so a receiver is never
 * told what did not happen and never misses what did, even while it is disabled. With no
 * endpoint registered it costs one query on a table of a few rows (an erasure also scans the
 * deliveries). The relay finds the new rows within WEBHOOK_RELAY_INTERVAL_MS.
 */
export async function enqueueWebhookDeliveries(tx: Scope, changes: readonly Change[]): Promise<void> {
  // An erasure first takes the address out of every delivery that holds it (see
  // forgetAddressInDeliveries); the erasure's own deliveries, written below, keep it until they end.
  for (const change of changes) if (change.type === 'contact.erased') await forgetAddressInDeliveries(tx, change.email);
  const endpoints = (await listeningEndpoints(tx).execute()).map((endpoint) => ({
    id: endpoint.id,
    events: JSON.parse(endpoint.events) as string[],
  }));
  const wanted = changes.filter((change) => endpoints.some((endpoint) => endpoint.events.includes(change.type)));
  if (wanted.length === 0) return;
  const listIds = [
    ...new Set(wanted.map((change) => ('listId' in change ? change.listId : null)).filter((id): id is number => id !== null)),
  ];
  const { lists, webhookDeliveries } = tx.tables;
  const slugs = new Map<number, string>();
  if (listIds.length > 0) {
    for (const row of await tx.db.select({ id: lists.id, slug: lists.slug }).from(lists).where(inArray(lists.id, listIds)))
      slugs.set(row.id, row.slug);
  }
  const now = Date.now();
  const rows = wanted.flatMap((change) => {
    const payload = JSON.stringify(webhookBody(change, slugs));
    return endpoints
      .filter((endpoint) => endpoint.events.includes(change.type))
      .map((endpoint) => ({
        id: newDeliveryId(),
        endpointId: endpoint.id,
        eventType: change.type,
        payload,
        status: 'queued' as const,
        attempts: 0,
        createdAt: now,
      }));
  });
  // In slices: a CSV import's batch of a thousand changes times several endpoints would pass the
  // engines' limits on bound parameters in one statement.
  for (let start = 0; start < rows.length; start += INSERT_SLICE)
    await tx.db.insert(webhookDeliveries).values(rows.slice(start, start + INSERT_SLICE));
}

/** Rows per INSERT: 7 parameters each, well under SQLite's 32,766 and PostgreSQL's 65,535. */
const INSERT_SLICE = 500;
