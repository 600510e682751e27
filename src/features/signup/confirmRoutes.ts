import { Router, type Request, type Response } from 'express';
import { isLocale } from '../../platform/locales/locale.js';
import { checkConfirmLink, ConfirmationExpired, type ConfirmOutcome } from './confirm.js';
import { currentConsentStatement } from '../consent/service.js';
import { findOpenList } from './service.js';
import type { AppDeps } from '../../app.js';
import { requestOrigin } from '../../platform/http/origin.js';
import { confirmedPage, confirmPage, itWasMePage, signupAgainPage } from '../../platform/http/pages.js';
import { pageLocale, pageSite, sendPage, wantsJson } from '../../platform/http/respond.js';

export function confirmRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database } = deps;
  const { secrets } = deps.config;

  /** The list's current consent statement, for the sign-up-again form; none for a list gone or archived since. */
  const statementOfList = async (slug: string) => {
    const list = await findOpenList(database, slug);
    return list ? currentConsentStatement(database, list) : null;
  };

  /** Browsers get the lapsed link's own page, with a way to sign up again; programs the usual error. */
  const answered = async (req: Request, res: Response, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      if (!(error instanceof ConfirmationExpired) || wantsJson(req)) throw error;
      const again = error.signupAgain;
      const locale = again && isLocale(again.locale) ? again.locale : pageLocale(req);
      const statement = again ? await statementOfList(again.listSlug) : null;
      sendPage(res, signupAgainPage(locale, again, !deps.config.turnstileSecret, { site: pageSite(req) }, statement), error.status);
    }
  };

  // Mail scanners fetch every link in a message, so GET only shows a button and changes nothing.
  router.get('/confirm', async (req, res) => {
    const token = req.query.token;
    await answered(req, res, async () => {
      const link = await checkConfirmLink(database, secrets, token);
      const view = { list: link.listName, address: link.email };
      // Already confirmed: say so, rather than offer a button that would change nothing.
      if (link.alreadyConfirmed) sendPage(res, confirmedPage(pageLocale(req), true, { ...view, site: pageSite(req) }));
      else if (link.cancelledByNotMe) sendPage(res, itWasMePage(pageLocale(req), token as string, view));
      else sendPage(res, confirmPage(pageLocale(req), token as string, view));
    });
  });

  router.post('/confirm', async (req, res) => {
    const token = (req.body as Record<string, unknown> | undefined)?.token ?? req.query.token;
    await answered(req, res, async () => {
      // The service hands the welcome email's outbox row to the relay after its commit.
      const outcome = await deps.subscriptions.confirm(token, requestOrigin(req));
      if (!outcome.alreadyConfirmed) deps.metrics.confirmations.inc();
      answerConfirmed(req, res, outcome);
    });
  });

  // "It was me — subscribe me": the confirm link of a request its own "not me" cancelled.
  router.post('/confirm/it-was-me', async (req, res) => {
    const token = (req.body as Record<string, unknown> | undefined)?.token ?? req.query.token;
    await answered(req, res, async () => {
      const outcome = await deps.subscriptions.itWasMe(token, requestOrigin(req));
      if (!outcome.alreadyConfirmed) deps.metrics.confirmations.inc();
      answerConfirmed(req, res, outcome);
    });
  });

  /** JSON for programs; for browsers the list's confirmedUrl (303) when it has one, else the built-in page. */
  const answerConfirmed = (req: Request, res: Response, outcome: ConfirmOutcome) => {
    if (wantsJson(req)) {
      res.json({ status: 'confirmed', list: outcome.listName });
      return;
    }
    if (outcome.confirmedUrl) {
      res.redirect(303, outcome.confirmedUrl);
      return;
    }
    sendPage(res, confirmedPage(pageLocale(req), outcome.alreadyConfirmed, { list: outcome.listName, address: outcome.email, site: pageSite(req) }));
  };

  return router;
}
