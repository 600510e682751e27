import { Router } from 'express';
import { refreshGauges } from '../../metrics.js';
import { outboxCounts } from '../../queue/outboxReport.js';
import { readSenderFault } from '../../queue/senderFault.js';
import type { AppDeps } from '../app.js';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const;

/** Prometheus scrape endpoint: counters as they stand, gauges refreshed from the outbox and the queue. */
export function metricsRoutes(deps: AppDeps): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    await refreshGauges(deps.metrics, {
      outboxCounts: () => outboxCounts(deps.db),
      queueCounts: () => deps.queue.getJobCounts(...QUEUE_STATES),
      senderFault: async () => (await readSenderFault(deps.redis, deps.config.queuePrefix))?.kind ?? null,
    });
    res.set('Cache-Control', 'no-store').type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
