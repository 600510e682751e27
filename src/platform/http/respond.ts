import type { Express, Request, Response } from 'express';
import type { Site } from '../../config.js';
import { type AppError } from '../../errors.js';
import { DEFAULT_LOCALE, localeFromAcceptLanguage, type Locale } from '../locales/locale.js';
import { errorPage, FORM_CSP, localeField } from './pages.js';

/** APIs for programs only (the admin API, Prometheus scrapes): they answer JSON whatever the Accept header says. */
const JSON_ONLY_PATHS = /^\/(admin\/api|metrics)(\/|$)/;

/** JSON for programs (a JSON body, or an Accept header that prefers JSON), pages for browsers. */
export function wantsJson(req: Request): boolean {
  if (JSON_ONLY_PATHS.test(req.path)) return true;
  if (req.is('application/json')) return true;
  return req.accepts(['html', 'json']) === 'json';
}

/**
 * The language of a page: the `locale` our own links and forms carry (the confirm link in a
 * mail, the confirm button, a signup form), else the browser's, else the default.
 */
export function pageLocale(req: Request): Locale {
  const field = localeField(req.query.locale) ?? localeField((req.body as Record<string, unknown> | undefined)?.locale);
  return field ?? localeFromAcceptLanguage(req.get('accept-language')) ?? DEFAULT_LOCALE;
}

/** The site every page of this app links back to (SITE_URL), set once where the app is made. */
export function setPageSite(app: Express, site: Site): void {
  app.locals.site = site;
}

export function pageSite(req: Request): Site | undefined {
  return req.app.locals.site as Site | undefined;
}

export function sendError(req: Request, res: Response, error: AppError): void {
  if (res.headersSent) return;
  if (error.status === 429 || error.status === 503) res.set('Cache-Control', 'no-store');
  res.status(error.status);
  if (wantsJson(req)) res.json({ error: { code: error.code, message: error.message, ...error.details } });
  // The page says the code's sentence in the reader's language; the message is for programs.
  else res.type('html').send(errorPage(pageLocale(req), error.code, { site: pageSite(req) }));
}

export function sendPage(res: Response, html: string, status = 200): void {
  // Pages may hold tokens: keep them out of shared caches.
  res.status(status).set('Cache-Control', 'no-store').type('html').send(html);
}

/** A contact's data as a JSON download (the admin export and the person's own): the same document for both. */
export function sendContactExport(res: Response, filename: string, record: object): void {
  res
    .set('Cache-Control', 'no-store')
    .attachment(filename)
    .type('json')
    .send(JSON.stringify({ exportedAt: new Date().toISOString(), ...record }, null, 2));
}

/** A page of the person's forms (preferences, reasons): the common stylesheet and the forms' own, nothing else. */
export function sendFormPage(res: Response, html: string): void {
  res.set('Content-Security-Policy', FORM_CSP);
  sendPage(res, html);
}
