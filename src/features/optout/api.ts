import { Router } from 'express';
import type { AppDeps } from '../../app.js';
import { AppError } from '../../errors.js';
import { optionalText } from '../../platform/http/fields.js';
import { reasonsReport } from './reasons.js';

/** `days` of the reasons report: 1 to 365, 30 when left out. */
export function reportDays(value: string | undefined): number {
  if (value === undefined || value === '') return 30;
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 365)
    throw new AppError(400, 'invalid_days', 'days must be a whole number from 1 to 365.');
  return Number(value);
}

/** The reasons people give for leaving, counted: GET /admin/api/reasons, behind the admin guard. */
export function apiRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database } = deps;

  router.get('/reasons', async (req, res) => {
    const report = await reasonsReport(database, {
      list: optionalText(req.query, 'list', 64) || undefined,
      days: reportDays(optionalText(req.query, 'days', 8)),
    });
    res.set('Cache-Control', 'no-store').json(report);
  });

  return router;
}
