import { and, eq, isNull, lte, sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import type { Database, Scope } from '../../platform/db/database.js';
import type { Logger } from '../../logger.js';
import { loggableMessage } from '../../platform/queue/logErrors.js';
import { forgetAddressInDeliveries } from './scrub.js';

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
}

/**
 * What one run of a delivery's job came to. `held`: its endpoint is disabled; the row stays
 * queued until an admin enables it again. `retry` is thrown (as WebhookAttemptError), not returned.
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

/** One POST, never following a redirect (the endpoint is the URL an admin registered, not wherever it points). */
async function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<{ statusCode: number | null; error: string | null }> {
  try {
    const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { statusCode: res.status, error: null };
    const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
    return {
      statusCode: res.status,
      error: location !== null ? `HTTP ${res.status}: redirect to ${location.slice(0, 200)} not followed` : `HTTP ${res.status}`,
    };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const message =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (cause?.code ?? cause?.message ?? loggableMessage(error));
    return { statusCode: null, error: message.slice(0, 500) };
  }
}

/**
 * After a contact.erased delivery has ended (delivered or given up), the address leaves our
 * copy of it, and of the endpoint's other finished deliveries (those still queued at the erasure).
 */
async function scrubErasedAddress(tx: Scope, payload: string, endpointId: string): Promise<void> {
  const body = JSON.parse(payload) as { type: string; data: { email?: unknown } };
  if (body.type === 'contact.erased' && typeof body.data.email === 'string')
    await forgetAddressInDeliveries(tx, body.data.email, endpointId);
}

/** Whether a stored delivery's body had its address removed (an erasure told and done): it cannot be sent again. */
export function isScrubbed(payload: string): boolean {
  const body = JSON.parse(payload) as { type: string; data: { email?: unknown } };
  return body.type === 'contact.erased' && body.data.email === null;
}

/**
 * Ends a delivery (conditional on it still being queued, so of several workers exactly one
 * finishes it) and, when it failed for good while every delivery to its endpoint has failed for
 * at least the horizon, disables the endpoint with the reason shown to admins.
 */
async function finish(
  database: Database,
  deliveryId: string,
  endpointId: string,
  status: 'delivered' | 'failed',
  payload: string,
  horizonMs: number,
  lastError: string | null,
): Promise<boolean> {
  const now = Date.now();
  return database.transaction(async (tx) => {
    const { webhookDeliveries, webhookEndpoints } = tx.tables;
    const finished = await tx.db
      .update(webhookDeliveries)
      .set({ status, finishedAt: now })
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'queued')))
      .returning({ id: webhookDeliveries.id });
    if (finished.length === 0) return false;
    await scrubErasedAddress(tx, payload, endpointId);
    if (status === 'failed') {
      const since = new Date(now - horizonMs);
      await tx.db
        .update(webhookEndpoints)
        .set({
          enabled: false,
          disabledReason: `Disabled by the service on ${new Date(now).toISOString()}: every delivery has failed since before ${since.toISOString()} (last: ${lastError ?? 'unknown error'}).`,
        })
        .where(
          and(eq(webhookEndpoints.id, endpointId), eq(webhookEndpoints.enabled, true), lte(webhookEndpoints.failingSince, now - horizonMs)),
        );
    }
    return true;
  });
}

/**
 * Sends one delivery once: re-reads the row and its endpoint (a deleted endpoint's row is gone,
 * a disabled one's is held), counts the attempt, signs the stored body with the endpoint's
 * secret (Standard Webhooks: `webhook-id` is the delivery id, the same on every attempt) and
 * POSTs it. Every attempt is recorded. 2xx delivers; anything else is retried (thrown) until
 * the policy's attempts are used up, then the delivery is marked failed.
 */
export async function deliverWebhook(deps: WebhookDeliveryDeps, deliveryId: string): Promise<WebhookOutcome> {
  const { database, policy } = deps;
  const maxAttempts = webhookAttempts(policy);
  const [row] = await deliveryWithEndpoint(database, deliveryId);
  if (!row || row.delivery.status !== 'queued') return 'already_done';
  if (!row.endpoint.enabled) return 'held';
  const { delivery, endpoint } = row;
  if (delivery.attempts >= maxAttempts) {
    // Its last attempt was counted, but the process ended before it was marked.
    return (await finish(database, deliveryId, endpoint.id, 'failed', delivery.payload, policy.horizonMs, delivery.lastError))
      ? 'failed'
      : 'already_done';
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
  const result = await post(endpoint.url, headers, delivery.payload, policy.timeoutMs);
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
    await finish(database, deliveryId, endpoint.id, 'delivered', delivery.payload, policy.horizonMs, null);
    deps.logger.info({ deliveryId, type: delivery.eventType, attempt, statusCode: result.statusCode }, 'webhook delivered');
    return 'delivered';
  }
  if (attempt >= maxAttempts) {
    await finish(database, deliveryId, endpoint.id, 'failed', delivery.payload, policy.horizonMs, result.error);
    deps.logger.error({ deliveryId, type: delivery.eventType, attempt, err: result.error }, 'webhook failed after every retry');
    return 'failed';
  }
  deps.logger.warn({ deliveryId, type: delivery.eventType, attempt, err: result.error }, 'webhook attempt failed; will retry');
  throw new WebhookAttemptError(result.error);
}
