import { Router } from 'express';
import type { AppDeps } from '../../app.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';

/** GET /healthz and /readyz for probes; GET /metrics for Prometheus, unless METRICS_PORT serves it on its own port. */
export function publicRoutes(deps: AppDeps): Router {
  const router = Router();
  router.use(healthRoutes(deps));
  if (deps.config.metricsPort === undefined) router.use(metricsRoutes(deps));
  return router;
}
