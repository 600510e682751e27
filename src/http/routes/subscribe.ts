import { Router } from 'express';
import { AppError } from '../../errors.js';
import { isLocale, localeFromAcceptLanguage, DEFAULT_LOCALE, type Locale } from '../../mail/locale.js';
import { createSignupBatcher } from '../../subscriptions/signupBatch.js';
import type { AppDeps } from '../app.js';
import { optionalText, requiredText } from '../fields.js';
import { requestOrigin } from '../origin.js';
import { pageLocale, sendPage, wantsJson } from '../respond.js';
import { messagePage, pageText } from '../pages.js';

/** The one body every signup gets, whatever the address's state: it must reveal nothing. */
export const SIGNUP_ACCEPTED = {
  status: 'accepted',
  message: 'If this address can receive mail from us, a confirmation email is on its way.',
} as const;

const LANGUAGE_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$/;

function chooseLocale(requested: string | undefined, acceptLanguage: string | undefined): Locale {
  if (requested !== undefined && requested !== '') {
    if (!LANGUAGE_TAG.test(requested)) throw new AppError(400, 'invalid_locale', 'The locale must be a language tag such as "en" or "fr".');
    const language = requested.split('-')[0]!.toLowerCase();
    if (isLocale(language)) return language;
  }
  return localeFromAcceptLanguage(acceptLanguage) ?? DEFAULT_LOCALE;
}

export function subscribeRoutes(deps: AppDeps): Router {
  const router = Router();
  const signups = createSignupBatcher(deps.db, deps.config.secrets);

  router.post('/subscribe', async (req, res) => {
    const body: unknown = req.body;
    const email = requiredText(body, 'email', 1024, 'invalid_email');
    const listSlug = optionalText(body, 'list', 64) || 'default';
    const locale = chooseLocale(optionalText(body, 'locale', 35), req.get('accept-language'));
    const name = optionalText(body, 'name', 100)?.trim() || null;

    const outcome = await signups.submit({ email, listSlug, locale, name, origin: requestOrigin(req) });
    if (outcome.outboxId) deps.relay.notify(outcome.outboxId);

    if (wantsJson(req)) {
      res.status(202).json(SIGNUP_ACCEPTED);
      return;
    }
    const thanks = outcome.thankYouUrl ?? `/thanks?locale=${locale}`;
    res.redirect(303, thanks);
  });

  router.get('/thanks', (req, res) => {
    const requested = req.query.locale;
    const locale = isLocale(requested) ? requested : pageLocale(req);
    const t = pageText(locale);
    sendPage(res, messagePage(locale, t.thanksTitle, t.thanksBody));
  });

  return router;
}
