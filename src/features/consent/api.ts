import { Router } from 'express';
import { checkConsentText, consentHistory, currentConsentStatement, setConsentStatement } from './service.js';
import { findListBySlug } from '../lists/index.js';
import type { AppDeps } from '../../app.js';

/** A list's consent statement and its versions in the admin API, mounted at /admin/api behind the admin guard. */
export function apiRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database } = deps;

  // `{"text": {"en": …, "fr": …}}` (or one string for every locale) → `{"version"}`; the same words give the same version.
  router.put('/lists/:slug/consent', async (req, res) => {
    const text = checkConsentText((req.body as Record<string, unknown> | undefined)?.text);
    const { version, created } = await setConsentStatement(database, String(req.params.slug), text);
    if (created) deps.logger.info({ list: String(req.params.slug), version }, 'admin wrote a consent statement');
    res.json({ version });
  });

  router.get('/lists/:slug/consent', async (req, res) => {
    const list = await findListBySlug(database, String(req.params.slug));
    const current = await currentConsentStatement(database, list);
    const versions = (await consentHistory(database, list.id)).map((s) => ({ ...s, createdAt: new Date(s.createdAt).toISOString() }));
    res.set('Cache-Control', 'no-store').json({ version: current?.version ?? null, requireConsent: list.requireConsent, versions });
  });

  return router;
}
