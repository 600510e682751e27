import { Router } from 'express';
import type { ConsoleContext } from '../../app.js';
import { AppError } from '../../errors.js';
import { optionalText } from '../../platform/http/fields.js';
import { LOCALES } from '../../platform/locales/locale.js';
import { findListBySlug, listRules, updateList } from '../lists/index.js';
import { consentPage } from './pages.js';
import { checkConsentText, consentHistory, setConsentStatement } from './service.js';

/** A list's consent statement and its versions: /admin/lists/:slug/consent. */
export function consoleRoutes({ deps, pageSession, sendPage }: ConsoleContext): Router {
  const router = Router();
  const { database } = deps;

  router.get('/lists/:slug/consent', async (req, res) => {
    const list = await findListBySlug(database, String(req.params.slug));
    const notice = NOTICES[optionalText(req.query, 'notice', 16) ?? ''];
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

  // The list's switch: whether a signup (and a join from the preference centre) needs the statement.
  router.post('/lists/:slug/consent/require', async (req, res) => {
    const slug = String(req.params.slug);
    const value = optionalText(req.body, 'requireConsent', 8);
    if (value !== 'true' && value !== 'false') throw new AppError(400, 'invalid_list', 'The field "requireConsent" must be true or false.');
    await findListBySlug(database, slug);
    await updateList(database, listRules(deps.config), slug, { requireConsent: value === 'true' });
    deps.logger.info({ list: slug, requireConsent: value === 'true' }, 'admin changed a list');
    res.redirect(303, `/admin/lists/${encodeURIComponent(slug)}/consent?notice=${value === 'true' ? 'required' : 'optional'}`);
  });

  return router;
}

const NOTICES: Record<string, string | undefined> = {
  saved: 'Saved: this is the current statement.',
  required: 'Saved: a signup now needs this statement.',
  optional: 'Saved: a signup no longer needs this statement.',
};
