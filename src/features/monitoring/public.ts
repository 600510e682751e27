import { Router } from 'express';
import type { AppDeps } from '../../app.js';
import type { Config } from '../../config.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';

/**
 * Whether PORT serves /metrics: not when METRICS_PORT does, and in production only with
 * METRICS_TOKEN, since its send counters tell a new address from a confirmed or suppressed one.
 */
export function metricsOnPublicPort(config: Pick<Config, 'production' | 'metricsPort' | 'metricsToken'>): boolean {
  return config.metricsPort === undefined && (!config.production || config.metricsToken !== undefined);
}

/** What the start-up log says when production serves /metrics nowhere, and how to turn it on. */
export function metricsOffNote(config: Pick<Config, 'production' | 'metricsPort' | 'metricsToken'>): string | null {
  if (config.metricsPort !== undefined || metricsOnPublicPort(config)) return null;
  return '/metrics is off (404): in production it needs METRICS_TOKEN, which every scrape brings as "Authorization: Bearer <token>", or METRICS_PORT to serve it on a port of its own';
}

/** GET /healthz and /readyz for probes; GET /metrics for Prometheus, where metricsOnPublicPort allows it. */
export function publicRoutes(deps: AppDeps): Router {
  const router = Router();
  router.use(healthRoutes(deps));
  if (metricsOnPublicPort(deps.config)) router.use(metricsRoutes(deps));
  return router;
}
