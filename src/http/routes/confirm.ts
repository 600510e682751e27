import { Router } from 'express';
import { confirmSubscription, subscriptionIdFromToken } from '../../subscriptions/confirm.js';
import type { AppDeps } from '../app.js';
import { requestOrigin } from '../origin.js';
import { messagePage, pageText, tokenFormPage } from '../pages.js';
import { pageLocale, sendPage, wantsJson } from '../respond.js';

export function confirmRoutes(deps: AppDeps): Router {
  const router = Router();

  // Mail scanners fetch every link in a message, so GET only shows a button and changes nothing.
  router.get('/confirm', (req, res) => {
    const token = req.query.token;
    subscriptionIdFromToken(deps.config.secrets, token, 'confirm');
    const locale = pageLocale(req);
    const t = pageText(locale);
    sendPage(res, tokenFormPage(locale, t.confirmTitle, t.confirmBody, '/confirm', token as string, t.confirmButton));
  });

  router.post('/confirm', (req, res) => {
    const token = (req.body as Record<string, unknown> | undefined)?.token ?? req.query.token;
    const outcome = confirmSubscription(deps.db, deps.config.secrets, token, requestOrigin(req));
    if (outcome.outboxId) deps.relay.notify(outcome.outboxId);
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

  return router;
}
