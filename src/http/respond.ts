import type { Request, Response } from 'express';
import { AppError } from '../errors.js';
import { DEFAULT_LOCALE, localeFromAcceptLanguage, type Locale } from '../mail/locale.js';
import { errorPage } from './pages.js';

/** APIs for programs only (the admin API, Prometheus scrapes): they answer JSON whatever the Accept header says. */
const JSON_ONLY_PATHS = /^\/(admin\/api|metrics)(\/|$)/;

/** JSON for programs (a JSON body, or an Accept header that prefers JSON), pages for browsers. */
export function wantsJson(req: Request): boolean {
  if (JSON_ONLY_PATHS.test(req.path)) return true;
  if (req.is('application/json')) return true;
  return req.accepts(['html', 'json']) === 'json';
}

export function pageLocale(req: Request): Locale {
  return localeFromAcceptLanguage(req.get('accept-language')) ?? DEFAULT_LOCALE;
}

export function sendError(req: Request, res: Response, error: AppError): void {
  if (res.headersSent) return;
  if (error.status === 429 || error.status === 503) res.set('Cache-Control', 'no-store');
  res.status(error.status);
  if (wantsJson(req)) res.json({ error: { code: error.code, message: error.message } });
  else res.type('html').send(errorPage(pageLocale(req), error.code, error.message));
}

export function sendPage(res: Response, html: string, status = 200): void {
  // Pages may hold tokens: keep them out of shared caches.
  res.status(status).set('Cache-Control', 'no-store').type('html').send(html);
}
