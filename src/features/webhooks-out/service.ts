import { randomBytes, randomUUID } from 'node:crypto';
import { and, count, desc, eq, inArray, max } from 'drizzle-orm';
import { LOCAL_HOSTS } from '../../config.js';
import type { Database, Row, Scope } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from './events.js';
import { blocksPrivate, privateHostProblem, type WebhookNetworkPolicy } from './network.js';

/** An endpoint as admins see it: never its secret, which is shown once, at creation. */
export interface EndpointView {
  id: string;
  url: string;
  description: string | null;
  events: WebhookEventType[];
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  /** Deliveries not yet ended: those a disabled endpoint holds until it is enabled again, or being tried. */
  waiting: number;
  createdAt: string;
}

const MAX_URL_LENGTH = 2048;
const MAX_DESCRIPTION_LENGTH = 500;

/** What a create or change may carry, as read from a JSON body or a console form. */
export interface EndpointInput {
  url?: unknown;
  events?: unknown;
  description?: unknown;
  enabled?: unknown;
}

const invalid = (field: string, message: string) => new AppError(400, `invalid_${field}`, message);

/**
 * A receiver's URL. https everywhere; plain http only to this machine (localhost, 127.0.0.1,
 * [::1]) in production, and to any host outside production (a receiver on a test network).
 * In production, unless WEBHOOK_ALLOW_PRIVATE=true, no address off the public internet (an IP
 * in the URL, in any spelling, or this machine's names); names are checked again at every
 * connection (network.ts). No user name or password in it: the URL is listed to every admin,
 * the secret is not.
 */
export function endpointUrl(value: unknown, network: WebhookNetworkPolicy): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid('url', 'The field "url" is required: the https:// address that receives the events.');
  if (value.length > MAX_URL_LENGTH) throw invalid('url', `The field "url" is longer than ${MAX_URL_LENGTH} characters.`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw invalid('url', 'The field "url" is not a URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('url', 'The field "url" must start with https://.');
  if (url.username || url.password)
    throw invalid('url', 'The field "url" must not carry a user name or password; the events are signed instead.');
  const privateHost = blocksPrivate(network) ? privateHostProblem(url.hostname) : null;
  if (privateHost !== null)
    throw invalid(
      'url',
      `The field "url" must reach a public address: ${privateHost} (set WEBHOOK_ALLOW_PRIVATE=true to allow private networks).`,
    );
  if (url.protocol === 'http:' && network.production && !LOCAL_HOSTS.includes(url.hostname)) {
    throw invalid('url', 'The field "url" must start with https:// (plain http:// is allowed for localhost, 127.0.0.1 and [::1] only).');
  }
  url.hash = '';
  return url.toString();
}

/** A non-empty list of known event types, each once. */
export function endpointEvents(value: unknown): WebhookEventType[] {
  if (!Array.isArray(value) || value.length === 0)
    throw invalid('events', `The field "events" must be a non-empty array of event types: ${WEBHOOK_EVENT_TYPES.join(', ')}.`);
  const unknown = value.filter((event) => !(WEBHOOK_EVENT_TYPES as readonly unknown[]).includes(event));
  if (unknown.length > 0)
    throw invalid(
      'events',
      `The field "events" names unknown event types: ${unknown.map(String).join(', ')} (known: ${WEBHOOK_EVENT_TYPES.join(', ')}).`,
    );
  return WEBHOOK_EVENT_TYPES.filter((event) => value.includes(event));
}

function endpointDescription(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw invalid('description', 'The field "description" must be text.');
  if (value.length > MAX_DESCRIPTION_LENGTH)
    throw invalid('description', `The field "description" is longer than ${MAX_DESCRIPTION_LENGTH} characters.`);
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value))
    throw invalid('description', 'The field "description" contains control characters.');
  return value.trim() || null;
}

function endpointEnabled(value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid('enabled', 'The field "enabled" must be true or false.');
  return value;
}

/** A Standard Webhooks secret: 32 random bytes, base64, prefixed `whsec_`. */
function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function endpointView(row: Row<'webhookEndpoints'>, waiting: number): EndpointView {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: JSON.parse(row.events) as WebhookEventType[],
    enabled: row.enabled,
    disabledReason: row.disabledReason,
    failingSince: row.failingSince === null ? null : new Date(row.failingSince).toISOString(),
    waiting,
    createdAt: new Date(row.createdAt).toISOString(),
  };
}

/** Queued deliveries per endpoint (of the given ones, or of all). */
async function waitingCounts(scope: Scope, ids?: readonly string[]): Promise<Map<string, number>> {
  const { webhookDeliveries } = scope.tables;
  const rows = await scope.db
    .select({ endpointId: webhookDeliveries.endpointId, n: count() })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.status, 'queued'), ids === undefined ? undefined : inArray(webhookDeliveries.endpointId, [...ids])))
    .groupBy(webhookDeliveries.endpointId);
  return new Map(rows.map((row) => [row.endpointId, row.n]));
}

const unknownEndpoint = () => new AppError(404, 'unknown_webhook_endpoint', 'There is no such webhook endpoint.');

/** Registers a receiver; the answer carries its secret, the only time it is ever shown. */
export async function createEndpoint(
  database: Database,
  input: EndpointInput,
  network: WebhookNetworkPolicy,
): Promise<{ id: string; secret: string }> {
  const values = {
    id: `ep_${randomUUID().replaceAll('-', '')}`,
    url: endpointUrl(input.url, network),
    events: JSON.stringify(endpointEvents(input.events)),
    description: endpointDescription(input.description),
    secret: newSecret(),
    enabled: true,
    createdAt: Date.now(),
  };
  await database.transaction(async (tx) => void (await tx.db.insert(tx.tables.webhookEndpoints).values(values)));
  return { id: values.id, secret: values.secret };
}

export async function listEndpoints(database: Database): Promise<EndpointView[]> {
  const { webhookEndpoints } = database.tables;
  const rows = await database.db.select().from(webhookEndpoints).orderBy(desc(webhookEndpoints.createdAt));
  const waiting = await waitingCounts(database);
  return rows.map((row) => endpointView(row, waiting.get(row.id) ?? 0));
}

export async function getEndpoint(database: Database, id: string): Promise<EndpointView> {
  const { webhookEndpoints } = database.tables;
  const [row] = await database.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
  if (!row) throw unknownEndpoint();
  return endpointView(row, (await waitingCounts(database, [id])).get(id) ?? 0);
}

/**
 * Changes url, events, description or enabled. Enabling clears the reason the service gave for
 * disabling it and starts the deliveries it held over again (a fresh retry schedule: the retry
 * horizon counts from now, however old the events are), sent one at a time in the order they
 * were made until the backlog is through (backlogUntil); disabling holds them, queued, until then.
 */
export async function updateEndpoint(
  database: Database,
  id: string,
  input: EndpointInput,
  network: WebhookNetworkPolicy,
): Promise<EndpointView> {
  const changes: Partial<Row<'webhookEndpoints'>> = {};
  if (input.url !== undefined) changes.url = endpointUrl(input.url, network);
  if (input.events !== undefined) changes.events = JSON.stringify(endpointEvents(input.events));
  if (input.description !== undefined) changes.description = endpointDescription(input.description);
  if (input.enabled !== undefined) changes.enabled = endpointEnabled(input.enabled);
  if (changes.enabled !== undefined) {
    changes.disabledReason = null;
    changes.failingSince = null;
  }
  const row = await database.transaction(async (tx) => {
    const { webhookEndpoints, webhookDeliveries } = tx.tables;
    const [before] = await tx.db.select({ enabled: webhookEndpoints.enabled }).from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
    if (!before) return undefined;
    // Only a real change of state clears the reason: an enabled:false sent twice keeps nothing new.
    if (changes.enabled === before.enabled) {
      delete changes.disabledReason;
      delete changes.failingSince;
    }
    const enabling = changes.enabled === true && !before.enabled;
    if (enabling) {
      const queued = and(eq(webhookDeliveries.endpointId, id), eq(webhookDeliveries.status, 'queued'));
      const [newest] = await tx.db
        .select({ at: max(webhookDeliveries.createdAt) })
        .from(webhookDeliveries)
        .where(queued);
      changes.backlogUntil = newest?.at ?? null;
      await tx.db.update(webhookDeliveries).set({ attempts: 0, handedAt: null }).where(queued);
    }
    const [updated] =
      Object.keys(changes).length > 0
        ? await tx.db.update(webhookEndpoints).set(changes).where(eq(webhookEndpoints.id, id)).returning()
        : await tx.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
    return updated;
  });
  if (!row) throw unknownEndpoint();
  return endpointView(row, (await waitingCounts(database, [id])).get(id) ?? 0);
}

/** Deletes a receiver with its deliveries and their attempts; a job still in the queue then finds nothing to send. */
export async function deleteEndpoint(database: Database, id: string): Promise<void> {
  const deleted = await database.transaction(async (tx) => {
    const { webhookEndpoints, webhookDeliveries, webhookAttempts } = tx.tables;
    const deliveries = tx.db.select({ id: webhookDeliveries.id }).from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id));
    await tx.db.delete(webhookAttempts).where(inArray(webhookAttempts.deliveryId, deliveries));
    await tx.db.delete(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id));
    return tx.db.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id)).returning({ id: webhookEndpoints.id });
  });
  if (deleted.length === 0) throw unknownEndpoint();
}
