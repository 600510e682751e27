import { asc } from 'drizzle-orm';
import { Router, type RequestHandler, type Response } from 'express';
import { AppError } from '../../errors.js';
import { LOCALES } from '../../platform/locales/locale.js';
import { checkConsentText, consentHistory, setConsentStatement } from './service.js';
import { reasonsReport } from '../optout/reasons.js';
import { findListBySlug } from '../signup/service.js';
import type { AppDeps } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { reportDays } from './api.js';
import type { PageSession } from '../../platform/http/console.js';
import { consentPage, reasonsPage } from './pages.js';

/** What the console router lends these pages: its sign-in guard and its way of answering. */
export interface ConsoleParts {
  signedIn: RequestHandler;
  pageSession(res: Response): PageSession;
  sendAdminPage(res: Response, html: string, status?: number): void;
}

/** The console pages of issue 14: a list's consent statement (/admin/lists/:slug/consent) and /admin/reasons. */
export function preferenceConsoleRoutes(deps: AppDeps, { signedIn, pageSession, sendAdminPage }: ConsoleParts): Router {
  const router = Router();
  const { database } = deps;

  router.get('/lists/:slug/consent', signedIn, async (req, res) => {
    const list = await findListBySlug(database, String(req.params.slug));
    const notice = optionalText(req.query, 'notice', 16) === 'saved' ? 'Saved: this is the current statement.' : undefined;
    sendAdminPage(res, consentPage(list, await consentHistory(database, list.id), pageSession(res), notice));
  });

  router.post('/lists/:slug/consent', signedIn, async (req, res) => {
    const slug = String(req.params.slug);
    const perLocale: Record<string, string> = {};
    for (const locale of LOCALES) {
      const words = optionalText(req.body, locale, 1000)?.trim();
      if (words) perLocale[locale] = words;
    }
    if (Object.keys(perLocale).length === 0) throw new AppError(400, 'invalid_consent_text', 'Write the statement in at least one language.');
    const { version, created } = await setConsentStatement(database, slug, checkConsentText(perLocale));
    if (created) deps.logger.info({ list: slug, version }, 'admin wrote a consent statement');
    res.redirect(303, `/admin/lists/${encodeURIComponent(slug)}/consent?notice=saved`);
  });

  router.get('/reasons', signedIn, async (req, res) => {
    const query = { list: optionalText(req.query, 'list', 64) || undefined, days: reportDays(optionalText(req.query, 'days', 8)) };
    const report = await reasonsReport(database, query);
    const { lists } = database.tables;
    const slugs = (await database.db.select({ slug: lists.slug }).from(lists).orderBy(asc(lists.slug))).map((l) => l.slug);
    sendAdminPage(res, reasonsPage(report, query, slugs, pageSession(res)));
  });

  return router;
}
