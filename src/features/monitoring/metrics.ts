import { Router, type RequestHandler } from 'express';
import { AppError } from '../../errors.js';
import { refreshGauges } from '../../metrics.js';
import { outboxCounts } from '../delivery/index.js';
import { readSenderFault } from '../../platform/mail/senderFault.js';
import type { AppDeps } from '../../app.js';
import { hasBearer } from '../../platform/http/adminAuth.js';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const;

/**
 * The outbox is counted (a GROUP BY over every row it keeps: OUTBOX_RETENTION) at most this
 * often, however often /metrics is scraped: the gauge is at most this old.
 */
export const OUTBOX_COUNTS_MAX_AGE_MS = 5000;

/**
 * `compute`'s last value while it is younger than maxAgeMs. Scrapes that come while it is being
 * computed share that one computation; a failed one is not kept.
 */
function cachedFor<T>(maxAgeMs: number, compute: () => Promise<T>): () => Promise<T> {
  let cached: { value: T; at: number } | undefined;
  let computing: Promise<T> | undefined;
  return () => {
    if (cached && Date.now() - cached.at < maxAgeMs) return Promise.resolve(cached.value);
    computing ??= compute().then(
      (value) => {
        cached = { value, at: Date.now() };
        computing = undefined;
        return value;
      },
      (error: unknown) => {
        computing = undefined;
        throw error;
      },
    );
    return computing;
  };
}

/** With METRICS_TOKEN set, a scrape must bring it as a Bearer token. */
function requireMetricsToken(token: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (token === undefined || hasBearer(req, token)) {
      next();
      return;
    }
    res.set('WWW-Authenticate', 'Bearer realm="optin metrics"');
    next(new AppError(401, 'unauthorized', 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>".'));
  };
}

/** Prometheus scrape endpoint: counters as they stand, gauges refreshed from the outbox, the queue and the sender fault record. */
export function metricsRoutes(deps: AppDeps): Router {
  const router = Router();
  const recentOutboxCounts = cachedFor(OUTBOX_COUNTS_MAX_AGE_MS, () => outboxCounts(deps.database));
  router.get('/metrics', requireMetricsToken(deps.config.metricsToken), async (_req, res) => {
    await refreshGauges(deps.metrics, {
      outboxCounts: recentOutboxCounts,
      queueCounts: () => deps.queue.getJobCounts(...QUEUE_STATES),
      senderFault: async () => (await readSenderFault(deps.redis, deps.config.queuePrefix))?.kind ?? null,
    });
    res
      .set('Cache-Control', 'no-store')
      .type(deps.metrics.registry.contentType)
      .send(await deps.metrics.registry.metrics());
  });
  return router;
}
