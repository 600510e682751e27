import { Router } from 'express';
import type { AppDeps } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { dashboardStats, statsDaysOf } from './service.js';

/** The dashboard's numbers for programs: GET /admin/api/stats. */
export function apiRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database, config } = deps;

  router.get('/stats', async (req, res) => {
    const list = optionalText(req.query, 'list', 64) || undefined;
    res.set('Cache-Control', 'no-store').json(
      await dashboardStats(database, {
        list,
        days: statsDaysOf(optionalText(req.query, 'days', 8)),
        countsMaxAgeMs: config.statsCountsMaxAgeMs,
      }),
    );
  });

  return router;
}
