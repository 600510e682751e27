import { Router, type ErrorRequestHandler, type RequestHandler, type Response } from 'express';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Database } from '../db/database.js';
import { requireAdmin, sameSecret } from './adminAuth.js';
import type { AdminAuthLimit } from './adminAuthLimit.js';
import { csrfToken, endSession, readSession, revokeSession, startSession, type AdminSession } from './adminSession.js';
import { ADMIN_CSP, adminErrorPage, signInPage, type PageSession } from './console.js';
import { optionalText } from './fields.js';
import { sendError, wantsJson } from './respond.js';

/** How every console page answers: its CSRF token for forms, and the page itself, never cached. */
export interface ConsolePageTools {
  pageSession(res: Response): PageSession;
  sendPage(res: Response, html: string, status?: number): void;
}

export interface ConsoleFrameDeps {
  config: Config;
  database: Database;
  logger: Logger;
}

function sendConsolePage(res: Response, html: string, status = 200): void {
  res.status(status).set('Cache-Control', 'no-store').type('html').send(html);
}

/**
 * The browser console, mounted at /admin: its headers, sign-in and sign-out, the one guard every
 * feature's console router sits behind, and its error pages. The features' routers come from
 * the route table (src/app.ts), each given the same page tools.
 */
export function consoleFrame(
  deps: ConsoleFrameDeps,
  authLimit: AdminAuthLimit,
  featureRouters: (tools: ConsolePageTools) => Router[],
): Router {
  const router = Router();
  const { database, config } = deps;
  // Mounted before the JSON API at /admin/api, which answers for itself.
  const isApi = (path: string) => path === '/api' || path.startsWith('/api/');

  router.use((req, res, next) => {
    if (isApi(req.path)) {
      next('router');
      return;
    }
    // same-origin referrers: with none at all, a browser sends "Origin: null" on our own forms.
    res.set({
      'Content-Security-Policy': ADMIN_CSP,
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
    });
    next();
  });

  const tools: ConsolePageTools = {
    pageSession: (res) => ({ csrf: csrfToken(config, res.locals.adminSession as AdminSession) }),
    sendPage: sendConsolePage,
  };
  const consoleOn: RequestHandler = (_req, _res, next) => {
    next(config.adminToken ? undefined : new AppError(503, 'admin_disabled', 'The admin console is off: set ADMIN_TOKEN to turn it on.'));
  };
  // Signed out: a page visit goes to the sign-in form; a form post is refused.
  const signedIn = requireAdmin({ config, database, authLimit }, (req, res, next) => {
    if (req.method === 'GET') res.redirect(303, '/admin');
    else next(new AppError(401, 'unauthorized', 'Your session has ended. Sign in again.'));
  });

  // Signed out, the console opens on the sign-in form; signed in, on the dashboard (behind the guard).
  router.get('/', consoleOn, async (req, res, next) => {
    if (await readSession(req, config, database)) next();
    else sendConsolePage(res, signInPage());
  });

  router.post('/sign-in', consoleOn, async (req, res) => {
    // No session yet, so no CSRF token: the Origin check alone keeps other sites from signing a browser in.
    const origin = req.get('origin');
    if (origin !== undefined && origin !== new URL(config.publicUrl).origin && origin !== `${req.protocol}://${req.get('host') ?? ''}`) {
      throw new AppError(403, 'cross_site_request', 'This request came from another site and was refused.');
    }
    await authLimit.refuseIfOverLimit(req, res);
    const token = optionalText(req.body, 'token', 1024) ?? '';
    if (!sameSecret(token, config.adminToken!)) {
      deps.logger.warn({ ip: req.ip }, 'admin sign-in refused');
      await authLimit.countFailure(req, res);
      sendConsolePage(res, signInPage('That is not the admin token.'), 401);
      return;
    }
    startSession(res, { ...config, adminToken: config.adminToken! });
    res.redirect(303, '/admin');
  });

  // The one guard: every page and form below needs a signed-in session (and forms its CSRF token).
  router.use(consoleOn, signedIn);

  router.post('/sign-out', async (_req, res) => {
    const session = res.locals.adminSession as AdminSession | undefined;
    if (session) await revokeSession(database, session);
    endSession(res, config);
    res.redirect(303, '/admin');
  });

  for (const featureRouter of featureRouters(tools)) router.use(featureRouter);

  router.use((_req, _res, next) => next(new AppError(404, 'not_found', 'There is no admin page at this address.')));

  // The console's own errors are pages in its layout, under its CSP.
  const pageErrors: ErrorRequestHandler = async (error, req, res, next) => {
    if (!(error instanceof AppError)) {
      next(error);
      return;
    }
    if (wantsJson(req)) {
      sendError(req, res, error);
      return;
    }
    // The error page is shown even when the database is what failed: then without the signed-in navigation.
    const session = await readSession(req, config, database).catch(() => undefined);
    sendConsolePage(
      res,
      adminErrorPage(error.code, error.message, session ? { csrf: csrfToken(config, session) } : undefined),
      error.status,
    );
  };
  router.use(pageErrors);
  return router;
}
