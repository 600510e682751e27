import { Router } from 'express';
import type { ConsoleContext } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { listSlugs } from '../lists/index.js';
import { reportDays } from './api.js';
import { reasonsPage } from './pages.js';
import { reasonsReport } from './reasons.js';

/** /admin/reasons: why people leave, per list and period. */
export function consoleRoutes({ deps, pageSession, sendPage }: ConsoleContext): Router {
  const router = Router();
  const { database } = deps;

  router.get('/reasons', async (req, res) => {
    const query = { list: optionalText(req.query, 'list', 64) || undefined, days: reportDays(optionalText(req.query, 'days', 8)) };
    const report = await reasonsReport(database, query);
    sendPage(res, reasonsPage(report, query, await listSlugs(database), pageSession(res)));
  });

  return router;
}
