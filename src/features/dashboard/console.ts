import { Router } from 'express';
import type { ConsoleContext } from '../../app.js';
import { readQueueHealth } from '../../platform/queue/queueHealth.js';
import { dashboardPage } from './pages.js';
import { queueDashboard } from './queues.js';
import { dashboardStats, failingWebhookEndpoints } from './service.js';

/** The console's front page (/admin, signed in) and the read-only BullMQ dashboard (/admin/queues). */
export function consoleRoutes({ deps, pageSession, sendPage }: ConsoleContext): Router {
  const router = Router();
  const { database, config } = deps;

  router.get('/', async (_req, res) => {
    const [stats, queue, failing] = await Promise.all([
      dashboardStats(database, { days: 30, countsMaxAgeMs: config.statsCountsMaxAgeMs }),
      readQueueHealth(deps.queue, deps.redis, config.queuePrefix),
      failingWebhookEndpoints(database),
    ]);
    sendPage(res, dashboardPage(stats, queue, failing, pageSession(res)));
  });

  router.use('/queues', queueDashboard(deps.queue, deps.redis));
  return router;
}
