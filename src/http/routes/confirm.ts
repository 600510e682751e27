import { Router, type Request, type Response } from 'express';
import { isLocale } from '../../mail/locale.js';
import { checkConfirmLink, ConfirmationExpired } from '../../subscriptions/confirm.js';
import type { AppDeps } from '../app.js';
import { requestOrigin } from '../origin.js';
import { messagePage, pageText, signupAgainPage, tokenFormPage } from '../pages.js';
import { pageLocale, sendPage, wantsJson } from '../respond.js';

export function confirmRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database } = deps;
  const { secrets } = deps.config;

  /** Browsers get the lapsed link's own page, with a way to sign up again; programs the usual error. */
  const answered = async (req: Request, res: Response, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      if (!(error instanceof ConfirmationExpired) || wantsJson(req)) throw error;
      const again = error.signupAgain;
      const locale = again && isLocale(again.locale) ? again.locale : pageLocale(req);
      sendPage(res, signupAgainPage(locale, again, !deps.config.turnstileSecret), error.status);
    }
  };

  // Mail scanners fetch every link in a message, so GET only shows a button and changes nothing.
  router.get('/confirm', async (req, res) => {
    const token = req.query.token;
    await answered(req, res, async () => {
      await checkConfirmLink(database, secrets, token);
      const locale = pageLocale(req);
      const t = pageText(locale);
      sendPage(res, tokenFormPage(locale, t.confirmTitle, t.confirmBody, '/confirm', token as string, t.confirmButton));
    });
  });

  router.post('/confirm', async (req, res) => {
    const token = (req.body as Record<string, unknown> | undefined)?.token ?? req.query.token;
    await answered(req, res, async () => {
      // The service hands the welcome email's outbox row to the relay after its commit.
      const outcome = await deps.subscriptions.confirm(token, requestOrigin(req));
      if (!outcome.alreadyConfirmed) deps.metrics.confirmations.inc();
      if (wantsJson(req)) {
        res.json({ status: 'confirmed', list: outcome.listName });
        return;
      }
      const locale = pageLocale(req);
      const t = pageText(locale);
      const body = outcome.alreadyConfirmed ? t.alreadyConfirmedBody(outcome.listName) : t.confirmedBody(outcome.listName);
      sendPage(res, messagePage(locale, t.confirmedTitle, body));
    });
  });

  return router;
}
