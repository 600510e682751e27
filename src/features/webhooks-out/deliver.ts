import { and, eq, isNull, lte, sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import type { Database, Scope } from '../../platform/db/database.js';
import type { Logger } from '../../logger.js';
import { postOnce, type WebhookAgents } from './network.js';
import { forgetAddressInDelivery } from './scrub.js';

/** When to try and when to give up (WEBHOOK_BACKOFF_MS, WEBHOOK_RETRY_HORIZON_MS, WEBHOOK_TIMEOUT_MS). */
export interface WebhookRetryPolicy {
  backoffMs: number;
  horizonMs: number;
  timeoutMs: number;
}

/**
 * Attempts per delivery: the first, then retries after backoff, 2×backoff, 4×backoff… until the
 * waits add up to at least the horizon: 1 + the smallest n with backoff × (2ⁿ − 1) ≥ horizon.
 * 10 s and 24 h give 15 attempts, the last about 45 h after the first.
 */
export function webhookAttempts(policy: Pick<WebhookRetryPolicy, 'backoffMs' | 'horizonMs'>): number {
  let retries = 0;
  while (policy.backoffMs * (2 ** retries - 1) < policy.horizonMs) retries += 1;
  return retries + 1;
}

export interface WebhookDeliveryDeps {
  database: Database;
  logger: Logger;
  policy: WebhookRetryPolicy;
  /** The connections every attempt goes through (network.ts: private addresses refused in production). */
  agents: WebhookAgents;
  /**
   * Called when a delivery of an endpoint sending its backlog in order has ended, so the relay
   * hands the next one now rather than at its next interval.
   */
  handNext?: () => void;
}

/**
 * What one run of a delivery's job came to. `held`: its endpoint is disabled (by an admin, or by
 * this very failure); the row stays queued until it is enabled again. `retry` is thrown (as
 * WebhookAttemptError), not returned.
 */
export type WebhookOutcome = 'delivered' | 'failed' | 'held' | 'already_done';

/** A failed attempt with retries left: the worker throws it so BullMQ waits the backoff and tries again. */
export class WebhookAttemptError extends Error {}

const deliveryWithEndpoint = (scope: Scope, deliveryId: string) => {
  const { webhookDeliveries, webhookEndpoints } = scope.tables;
  return scope.db
    .select({ delivery: webhookDeliveries, endpoint: webhookEndpoints })
    .from(webhookDeliveries)
    .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
    .where(eq(webhookDeliveries.id, deliveryId));
};

/** After a contact.erased delivery has ended (delivered or given up), the address leaves our copy of it. */
async function scrubErasedAddress(tx: Scope, deliveryId: string, payload: string): Promise<void> {
  const body = JSON.parse(payload) as { type: string; data: { email?: unknown } };
  if (body.type === 'contact.erased' && typeof body.data.email === 'string') await forgetAddressInDelivery(tx, deliveryId, body.data.email);
}

/**
 * An endpoint sending its backlog in order goes back to sending side by side once every
 * delivery created up to `backlogUntil` has ended.
 */
async function endBacklogIfSent(tx: Scope, endpointId: string): Promise<void> {
  const { webhookDeliveries, webhookEndpoints } = tx.tables;
  const [endpoint] = await tx.db
    .select({ backlogUntil: webhookEndpoints.backlogUntil })
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.id, endpointId));
  if (endpoint?.backlogUntil == null) return;
  const [waiting] = await tx.db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.endpointId, endpointId),
        eq(webhookDeliveries.status, 'queued'),
        lte(webhookDeliveries.createdAt, endpoint.backlogUntil),
      ),
    )
    .limit(1);
  if (!waiting) await tx.db.update(webhookEndpoints).set({ backlogUntil: null }).where(eq(webhookEndpoints.id, endpointId));
}

/**
 * Ends a delivery (conditional on it still being queued, so of several workers exactly one
 * finishes it). A delivery that failed for good while every delivery to its endpoint has
 * failed for at least the horizon disables the endpoint (with the reason shown to admins) and
 * is not ended but held with the others, so that nothing is lost while the endpoint is off:
 * enabling it again gives it a fresh retry schedule.
 */
async function finish(
  database: Database,
  deliveryId: string,
  endpointId: string,
  status: 'delivered' | 'failed',
  payload: string,
  horizonMs: number,
  lastError: string | null,
): Promise<'ended' | 'held' | 'already_done'> {
  const now = Date.now();
  return database.transaction(async (tx) => {
    const { webhookDeliveries, webhookEndpoints } = tx.tables;
    if (status === 'failed') {
      const since = new Date(now - horizonMs);
      const disabled = await tx.db
        .update(webhookEndpoints)
        .set({
          enabled: false,
          disabledReason: `Disabled by the service on ${new Date(now).toISOString()}: every delivery has failed since before ${since.toISOString()} (last: ${lastError ?? 'unknown error'}).`,
        })
        .where(
          and(eq(webhookEndpoints.id, endpointId), eq(webhookEndpoints.enabled, true), lte(webhookEndpoints.failingSince, now - horizonMs)),
        )
        .returning({ id: webhookEndpoints.id });
      if (disabled.length > 0) return 'held';
    }
    const finished = await tx.db
      .update(webhookDeliveries)
      .set({ status, finishedAt: now })
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'queued')))
      .returning({ id: webhookDeliveries.id });
    if (finished.length === 0) return 'already_done';
    await scrubErasedAddress(tx, deliveryId, payload);
    await endBacklogIfSent(tx, endpointId);
    return 'ended';
  });
}

/**
 * Sends one delivery once: re-reads the row and its endpoint (a deleted endpoint's row is gone,
 * a disabled one's is held), counts the attempt, signs the stored body with the endpoint's
 * secret (Standard Webhooks: `webhook-id` is the delivery id, the same on every attempt) and
 * POSTs it. Every attempt is recorded. 2xx delivers; anything else is retried (thrown) until
 * the policy's attempts are used up, then the delivery is marked failed (or held, see finish).
 */
export async function deliverWebhook(deps: WebhookDeliveryDeps, deliveryId: string): Promise<WebhookOutcome> {
  const { database, policy } = deps;
  const maxAttempts = webhookAttempts(policy);
  const [row] = await deliveryWithEndpoint(database, deliveryId);
  if (!row || row.delivery.status !== 'queued') return 'already_done';
  if (!row.endpoint.enabled) return 'held';
  const { delivery, endpoint } = row;
  // The next delivery of a backlog sent in order is handed as soon as this one ends.
  const ended = (outcome: 'ended' | 'held' | 'already_done') => {
    if (outcome === 'ended' && endpoint.backlogUntil !== null) deps.handNext?.();
    return outcome;
  };
  if (delivery.attempts >= maxAttempts) {
    // Its last attempt was counted, but the process ended before it was marked.
    const outcome = ended(
      await finish(database, deliveryId, endpoint.id, 'failed', delivery.payload, policy.horizonMs, delivery.lastError),
    );
    return outcome === 'ended' ? 'failed' : outcome;
  }
  const counted = await database.transaction((tx) => {
    const { webhookDeliveries } = tx.tables;
    return tx.db
      .update(webhookDeliveries)
      .set({ attempts: sql`${webhookDeliveries.attempts} + 1` })
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'queued')))
      .returning({ attempts: webhookDeliveries.attempts });
  });
  if (counted.length === 0) return 'already_done';
  const attempt = counted[0]!.attempts;

  const sentAt = new Date();
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'optin-webhooks',
    'webhook-id': deliveryId,
    'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
    'webhook-signature': new Webhook(endpoint.secret).sign(deliveryId, sentAt, delivery.payload),
  };
  const started = performance.now();
  const result = await postOnce(deps.agents, endpoint.url, headers, delivery.payload, policy.timeoutMs);
  const durationMs = Math.round(performance.now() - started);

  await database.transaction(async (tx) => {
    const { webhookAttempts: attempts, webhookDeliveries, webhookEndpoints } = tx.tables;
    await tx.db
      .insert(attempts)
      .values({ deliveryId, at: sentAt.getTime(), statusCode: result.statusCode, durationMs, error: result.error });
    await tx.db
      .update(webhookDeliveries)
      .set({ lastStatusCode: result.statusCode, lastError: result.error })
      .where(eq(webhookDeliveries.id, deliveryId));
    if (result.error === null) await tx.db.update(webhookEndpoints).set({ failingSince: null }).where(eq(webhookEndpoints.id, endpoint.id));
    else
      await tx.db
        .update(webhookEndpoints)
        .set({ failingSince: sentAt.getTime() })
        .where(and(eq(webhookEndpoints.id, endpoint.id), isNull(webhookEndpoints.failingSince)));
  });

  if (result.error === null) {
    ended(await finish(database, deliveryId, endpoint.id, 'delivered', delivery.payload, policy.horizonMs, null));
    deps.logger.info({ deliveryId, type: delivery.eventType, attempt, statusCode: result.statusCode }, 'webhook delivered');
    return 'delivered';
  }
  if (attempt >= maxAttempts) {
    const outcome = ended(await finish(database, deliveryId, endpoint.id, 'failed', delivery.payload, policy.horizonMs, result.error));
    if (outcome === 'held') {
      deps.logger.error(
        { deliveryId, endpointId: endpoint.id, type: delivery.eventType, attempt, err: result.error },
        'webhook endpoint disabled: every delivery has failed for the retry horizon; its deliveries wait until it is enabled again',
      );
      return 'held';
    }
    deps.logger.error({ deliveryId, type: delivery.eventType, attempt, err: result.error }, 'webhook failed after every retry');
    return 'failed';
  }
  deps.logger.warn({ deliveryId, type: delivery.eventType, attempt, err: result.error }, 'webhook attempt failed; will retry');
  throw new WebhookAttemptError(result.error);
}
