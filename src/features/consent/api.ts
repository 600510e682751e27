import { Router } from 'express';
import { AppError } from '../../errors.js';
import { checkConsentText, consentHistory, currentConsentStatement, setConsentStatement } from './service.js';
import { reasonsReport } from '../optout/reasons.js';
import { findListBySlug } from '../signup/service.js';
import { requireAdmin } from '../../platform/http/adminAuth.js';
import type { AdminAuthLimit } from '../../platform/http/adminAuthLimit.js';
import type { AppDeps } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';

/** `days` of the reasons report: 1 to 365, 30 when left out. */
export function reportDays(value: string | undefined): number {
  if (value === undefined || value === '') return 30;
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 365) throw new AppError(400, 'invalid_days', 'days must be a whole number from 1 to 365.');
  return Number(value);
}

/**
 * The admin API of issue 14, mounted at /admin/api before the main admin API: a list's consent
 * statement (its versions) and the reasons people give for leaving.
 */
export function adminPreferenceApiRoutes(deps: AppDeps, authLimit: AdminAuthLimit): Router {
  const router = Router();
  const { database } = deps;
  const admin = requireAdmin({ config: deps.config, database, authLimit });

  // `{"text": {"en": …, "fr": …}}` (or one string for every locale) → `{"version"}`; the same words give the same version.
  router.put('/lists/:slug/consent', admin, async (req, res) => {
    const text = checkConsentText((req.body as Record<string, unknown> | undefined)?.text);
    const { version, created } = await setConsentStatement(database, String(req.params.slug), text);
    if (created) deps.logger.info({ list: String(req.params.slug), version }, 'admin wrote a consent statement');
    res.json({ version });
  });

  router.get('/lists/:slug/consent', admin, async (req, res) => {
    const list = await findListBySlug(database, String(req.params.slug));
    const current = await currentConsentStatement(database, list);
    const versions = (await consentHistory(database, list.id)).map((s) => ({ ...s, createdAt: new Date(s.createdAt).toISOString() }));
    res.set('Cache-Control', 'no-store').json({ version: current?.version ?? null, requireConsent: list.requireConsent, versions });
  });

  router.get('/reasons', admin, async (req, res) => {
    const report = await reasonsReport(database, { list: optionalText(req.query, 'list', 64) || undefined, days: reportDays(optionalText(req.query, 'days', 8)) });
    res.set('Cache-Control', 'no-store').json(report);
  });

  return router;
}
