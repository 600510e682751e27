import { Router } from 'express';
import type { ConsoleContext } from '../../app.js';
import { AppError } from '../../errors.js';
import { optionalText } from '../../platform/http/fields.js';
import { LOCALES } from '../../platform/locales/locale.js';
import { findListBySlug } from '../lists/index.js';
import { consentPage } from './pages.js';
import { checkConsentText, consentHistory, setConsentStatement } from './service.js';

/** A list's consent statement and its versions: /admin/lists/:slug/consent. */
export function consoleRoutes({ deps, pageSession, sendPage }: ConsoleContext): Router {
  const router = Router();
  const { database } = deps;

  router.get('/lists/:slug/consent', async (req, res) => {
    const list = await findListBySlug(database, String(req.params.slug));
    const notice = optionalText(req.query, 'notice', 16) === 'saved' ? 'Saved: this is the current statement.' : undefined;
    sendPage(res, consentPage(list, await consentHistory(database, list.id), pageSession(res), notice));
  });

  router.post('/lists/:slug/consent', async (req, res) => {
    const slug = String(req.params.slug);
    const perLocale: Record<string, string> = {};
    for (const locale of LOCALES) {
      const words = optionalText(req.body, locale, 1000)?.trim();
      if (words) perLocale[locale] = words;
    }
    if (Object.keys(perLocale).length === 0)
      throw new AppError(400, 'invalid_consent_text', 'Write the statement in at least one language.');
    const { version, created } = await setConsentStatement(database, slug, checkConsentText(perLocale));
    if (created) deps.logger.info({ list: slug, version }, 'admin wrote a consent statement');
    res.redirect(303, `/admin/lists/${encodeURIComponent(slug)}/consent?notice=saved`);
  });

  return router;
}
