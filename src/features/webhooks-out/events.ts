import { randomUUID } from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
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

/** Enabled endpoints and what they listen to: the one query the hot path pays when none is registered. */
const enabledEndpoints = preparedPerHandle((scope: Scope) => {
  const { webhookEndpoints } = scope.tables;
  return scope.db
    .select({ id: webhookEndpoints.id, events: webhookEndpoints.events })
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.enabled, true))
    .prepare('outbound_enabled_endpoints');
});

/** A delivery id, sent as `webhook-id`: the Standard Webhooks spelling, unique, the same on every attempt. */
export function newDeliveryId(): string {
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

/**
 * Writes one delivery (an outbox row) per enabled endpoint that listens to each change, inside
 * the transaction of the change: committed with it or not at all, so a receiver is never told
 * what did not happen and never misses what did. With no endpoint enabled it costs one query
 * on a table of a few rows (an erasure also scans the finished deliveries). The relay finds the
 * new rows within WEBHOOK_RELAY_INTERVAL_MS.
 */
export async function enqueueWebhookDeliveries(tx: Scope, changes: readonly Change[]): Promise<void> {
  // An erasure also takes the address out of what was already told (see forgetAddressInDeliveries).
  for (const change of changes) if (change.type === 'contact.erased') await forgetAddressInDeliveries(tx, change.email);
  const endpoints = (await enabledEndpoints(tx).execute()).map((endpoint) => ({
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
