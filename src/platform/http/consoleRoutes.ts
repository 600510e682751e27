import { asc } from 'drizzle-orm';
import { Router, type ErrorRequestHandler, type RequestHandler, type Response } from 'express';
import { AppError } from '../../errors.js';
import { maskEmail } from '../../logger.js';
import { parseAddress } from '../mail/address.js';
import { contactRecord } from '../../features/subscribers/contactRecord.js';
import { eraseContact } from '../../features/subscribers/erasure.js';
import { addSuppression, liftSuppression, listSuppressions } from '../../features/suppression/service.js';
import { requireAdmin, sameSecret } from './adminAuth.js';
import type { AdminAuthLimit } from './adminAuthLimit.js';
import { csrfToken, endSession, readSession, revokeSession, startSession, type AdminSession } from './adminSession.js';
import type { AppDeps } from '../../app.js';
import { importCsvUpload } from '../../features/suppression/upload.js';
import { optionalText, requiredText } from './fields.js';
import { sendError, wantsJson } from './respond.js';
import { reasonOf } from '../../features/suppression/api.js';
import { adminListPages } from '../../features/lists/console.js';
import { queueDashboard } from '../../features/dashboard/queues.js';
import { preferenceConsoleRoutes } from '../../features/consent/console.js';
import { webhookConsoleRoutes } from '../../features/webhooks-out/console.js';
import { broadcastConsoleRoutes } from '../../features/broadcasts/console.js';
import { dashboardPage, listSubscribersPage } from '../../features/dashboard/pages.js';
import { readQueueHealth } from '../queue/queueHealth.js';
import { dashboardStats, failingWebhookEndpoints } from '../../features/dashboard/service.js';
import { listSubscribers, statusOf } from '../../features/subscribers/service.js';
import { checkSendingSetup, dnsTxtResolver } from '../../features/sending/service.js';
import { ADMIN_CSP, adminErrorPage, contactPage, importResultPage, messagePage, sendingSetupPage, signInPage, suppressionsPage, type PageSession } from './console.js';

const PAGE_SIZE = 50;

function sendAdminPage(res: Response, html: string, status = 200): void {
  res.status(status).set('Cache-Control', 'no-store').type('html').send(html);
}

/** The browser console, mounted at /admin: sign-in, the suppression list, contacts. */
export function adminConsoleRoutes(deps: AppDeps, authLimit: AdminAuthLimit): Router {
  const router = Router();
  const { database, config } = deps;
  const { secrets } = config;
  // Mounted before the JSON API at /admin/api, which answers for itself.
  const isApi = (path: string) => path === '/api' || path.startsWith('/api/');

  // same-origin referrers: with none at all, a browser sends "Origin: null" on our own forms.
  router.use((req, res, next) => {
    if (isApi(req.path)) {
      next();
      return;
    }
    res.set({ 'Content-Security-Policy': ADMIN_CSP, 'X-Frame-Options': 'DENY', 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin' });
    next();
  });

  const pageSession = (res: Response): PageSession => ({ csrf: csrfToken(config, res.locals.adminSession as AdminSession) });
  // Signed out: a page visit goes to the sign-in form; a form post is refused.
  const signedIn = requireAdmin({ config, database, authLimit }, (req, res, next) => {
    if (req.method === 'GET') res.redirect(303, '/admin');
    else next(new AppError(401, 'unauthorized', 'Your session has ended. Sign in again.'));
  });
  const consoleOn: RequestHandler = (_req, _res, next) => {
    next(config.adminToken ? undefined : new AppError(503, 'admin_disabled', 'The admin console is off: set ADMIN_TOKEN to turn it on.'));
  };

  // Signed in, the console opens on the dashboard.
  router.get('/', consoleOn, async (req, res) => {
    const session = await readSession(req, config, database);
    if (!session) {
      sendAdminPage(res, signInPage());
      return;
    }
    const [stats, queue, failing] = await Promise.all([
      dashboardStats(database, { days: 30, countsMaxAgeMs: config.statsCountsMaxAgeMs }),
      readQueueHealth(deps.queue, deps.redis, config.queuePrefix),
      failingWebhookEndpoints(database),
    ]);
    sendAdminPage(res, dashboardPage(stats, queue, failing, { csrf: csrfToken(config, session) }));
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
      sendAdminPage(res, signInPage('That is not the admin token.'), 401);
      return;
    }
    startSession(res, { ...config, adminToken: config.adminToken! });
    res.redirect(303, '/admin');
  });

  router.post('/sign-out', signedIn, async (_req, res) => {
    const session = res.locals.adminSession as AdminSession | undefined;
    if (session) await revokeSession(database, session);
    endSession(res, config);
    res.redirect(303, '/admin');
  });

  router.use('/queues', consoleOn, signedIn, queueDashboard(deps.queue, deps.redis));
  router.use('/webhooks', consoleOn, signedIn, webhookConsoleRoutes(deps, pageSession, sendAdminPage));

  const resolveTxt = dnsTxtResolver(config.dnsServers);
  router.get('/sending', signedIn, async (_req, res) => {
    sendAdminPage(res, sendingSetupPage(await checkSendingSetup(config, resolveTxt), pageSession(res)));
  });

  router.get('/suppressions', signedIn, async (req, res) => {
    const query = {
      q: optionalText(req.query, 'q', 254)?.trim() || undefined,
      list: optionalText(req.query, 'list', 64) || undefined,
      reason: reasonOf(optionalText(req.query, 'reason', 32)),
      cursor: optionalText(req.query, 'cursor', 64) || undefined,
    };
    const { lists } = database.tables;
    const page = await listSuppressions(database, secrets, { ...query, limit: PAGE_SIZE });
    const slugs = (await database.db.select({ slug: lists.slug }).from(lists).orderBy(asc(lists.slug))).map((l) => l.slug);
    sendAdminPage(res, suppressionsPage(page, query, slugs, pageSession(res), optionalText(req.query, 'notice', 16)));
  });

  router.post('/suppressions', signedIn, async (req, res) => {
    const { item, created } = await addSuppression(database, secrets, {
      email: requiredText(req.body, 'email', 1024, 'invalid_email'),
      reason: reasonOf(optionalText(req.body, 'reason', 32)) ?? 'manual',
      list: optionalText(req.body, 'list', 64) || undefined,
      source: 'admin',
    });
    if (created) deps.logger.info({ id: item.id, email: maskEmail(item.email ?? ''), reason: item.reason, list: item.list }, 'admin added a suppression entry');
    res.redirect(303, `/admin/suppressions?${new URLSearchParams({ q: item.email ?? '', notice: 'added' }).toString()}`);
  });

  router.post('/suppressions/import', signedIn, async (req, res) => {
    const counts = await importCsvUpload(req, database, secrets, 'import');
    deps.logger.info({ added: counts.added, alreadyPresent: counts.alreadyPresent, invalid: counts.invalid }, 'admin imported suppression entries');
    sendAdminPage(res, importResultPage(counts, pageSession(res)));
  });

  router.post('/suppressions/:id/lift', signedIn, async (req, res) => {
    const id = /^[1-9]\d{0,15}$/.test(String(req.params.id)) ? Number(req.params.id) : 0;
    const reason = requiredText(req.body, 'reason', 500, 'missing_reason');
    await liftSuppression(database, { id, reason, by: 'admin' });
    deps.logger.info({ id }, 'admin lifted a suppression entry');
    res.redirect(303, '/admin/suppressions?notice=lifted');
  });

  router.get('/lists/:slug', signedIn, async (req, res) => {
    const slug = req.params.slug as string;
    const query = { status: statusOf(optionalText(req.query, 'status', 16)), q: optionalText(req.query, 'q', 254)?.trim() || undefined };
    const page = await listSubscribers(database, { publicUrl: config.publicUrl, secrets }, slug, { ...query, limit: PAGE_SIZE, cursor: optionalText(req.query, 'cursor', 64) || undefined });
    sendAdminPage(res, listSubscribersPage(slug, page, query, pageSession(res)));
  });

  router.get('/contacts', signedIn, async (req, res) => {
    const email = optionalText(req.query, 'email', 1024)?.trim();
    if (!email) {
      res.redirect(303, '/admin/suppressions');
      return;
    }
    sendAdminPage(res, contactPage(await contactRecord(database, secrets, email, { optOutRetentionMs: config.optOutRetentionMs }), pageSession(res)));
  });

  router.post('/contacts/erase', signedIn, async (req, res) => {
    const email = requiredText(req.body, 'email', 1024, 'invalid_email');
    const confirm = parseAddress(requiredText(req.body, 'confirm', 1024, 'missing_confirmation'));
    const target = parseAddress(email);
    if (!target.ok || !confirm.ok || confirm.address.emailKey !== target.address.emailKey) {
      throw new AppError(400, 'confirmation_mismatch', 'Type the contact’s address exactly to confirm the erasure.');
    }
    await eraseContact(database, secrets, email, 'admin');
    deps.logger.info('admin erased a contact');
    sendAdminPage(res, messagePage('Contact erased', 'The contact, its subscriptions and its consent trail are deleted. The address stays blocked by its keyed hash only.', pageSession(res)));
  });

  router.use(adminListPages(deps, signedIn));
  // A list's consent statement and the reasons for leaving (issue 14).
  router.use(preferenceConsoleRoutes(deps, { signedIn, pageSession, sendAdminPage }));
  router.use('/broadcasts', consoleOn, broadcastConsoleRoutes(deps, signedIn, pageSession));

  router.use((req, _res, next) => next(isApi(req.path) ? undefined : new AppError(404, 'not_found', 'There is no admin page at this address.')));

  // The console's own errors are pages in its layout, under its CSP.
  const pageErrors: ErrorRequestHandler = async (error, req, res, next) => {
    if (!(error instanceof AppError) || isApi(req.path)) {
      next(error);
      return;
    }
    if (wantsJson(req)) {
      sendError(req, res, error);
      return;
    }
    // The error page is shown even when the database is what failed: then without the signed-in navigation.
    const session = await readSession(req, config, database).catch(() => undefined);
    sendAdminPage(res, adminErrorPage(error.code, error.message, session ? { csrf: csrfToken(config, session) } : undefined), error.status);
  };
  router.use(pageErrors);
  return router;
}
