import { Router, type Request, type Response } from 'express';
import { isLocale } from '../../platform/locales/locale.js';
import { checkConfirmLink, ConfirmationExpired, type ConfirmOutcome } from './confirm.js';
import { currentConsentStatement } from '../consent/index.js';
import { findOpenList } from '../lists/index.js';
import type { AppDeps } from '../../app.js';
import { requestOrigin } from '../../platform/http/origin.js';
import { confirmedPage, confirmPage, itWasMePage, signupAgainPage } from './pages.js';
import { pageLocale, pageSite, sendPage, wantsJson } from '../../platform/http/respond.js';
import { AppError } from '../../errors.js';
import { localeFromAcceptLanguage, DEFAULT_LOCALE, type Locale } from '../../platform/locales/locale.js';
import { listName } from '../../platform/locales/localizedText.js';
import { findListBySlug } from '../lists/index.js';
import { optionalText, requiredText } from '../../platform/http/fields.js';
import { rateLimitByIp } from '../../platform/http/rateLimit.js';
import { signupFormSnippet, thanksPage, typoPage } from './pages.js';
import { localeField } from '../../platform/http/pages.js';
import { TURNSTILE_FIELD, turnstileCheck, type HumanCheck } from '../../platform/http/turnstile.js';

/** The one body every signup gets, whatever the address's state: it must reveal nothing. */
export const SIGNUP_ACCEPTED = {
  status: 'accepted',
  message: 'If this address can receive mail from us, a confirmation email is on its way.',
} as const;

/** A field people never see (hidden by the form's CSS); only bots fill it in. */
export const HONEYPOT_FIELD = 'website';

const LIST_SLUG = /^[a-z0-9-]{1,64}$/;

const LANGUAGE_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$/;

function chooseLocale(requested: string | undefined, acceptLanguage: string | undefined): Locale {
  if (requested !== undefined && requested !== '') {
    if (!LANGUAGE_TAG.test(requested)) throw new AppError(400, 'invalid_locale', 'The locale must be a language tag such as "en" or "fr".');
    const language = requested.split('-')[0]!.toLowerCase();
    if (isLocale(language)) return language;
  }
  return localeFromAcceptLanguage(acceptLanguage) ?? DEFAULT_LOCALE;
}

/**
 * The same answer for every accepted signup: 202 for programs, 303 to the thank-you page for
 * forms. The page is told the list (not secret, unlike the address), so it can name it.
 */
function answerAccepted(req: Request, res: Response, thankYouUrl: string | null, locale: Locale, listSlug: string): void {
  if (wantsJson(req)) {
    res.status(202).json(SIGNUP_ACCEPTED);
    return;
  }
  res.redirect(303, thankYouUrl ?? `/thanks?${new URLSearchParams({ locale, list: listSlug }).toString()}`);
}

export function subscribeRoutes(deps: AppDeps): Router {
  const router = Router();
  const limit = rateLimitByIp(deps.redis, { perMinute: deps.config.rateLimitPerMinute, keyPrefix: deps.config.queuePrefix }, deps.logger);
  const isHuman: HumanCheck | undefined = deps.config.turnstileSecret
    ? turnstileCheck({ secret: deps.config.turnstileSecret, verifyUrl: deps.config.turnstileVerifyUrl })
    : undefined;

  router.post('/subscribe', limit, async (req, res) => {
    const body: unknown = req.body;
    const email = requiredText(body, 'email', 1024, 'invalid_email');
    const listSlug = optionalText(body, 'list', 64) || 'default';
    const locale = chooseLocale(optionalText(body, 'locale', 35), req.get('accept-language'));
    const name = optionalText(body, 'name', 100)?.trim() || null;
    const honeypot = optionalText(body, HONEYPOT_FIELD, 1024);
    const captchaToken = optionalText(body, TURNSTILE_FIELD, 4096);
    // The version of the consent statement the form showed (GET /lists/:slug/form carries it).
    const consentVersion = optionalText(body, 'consent', 64)?.trim() || null;

    if (honeypot) {
      // A bot: answer exactly as for anyone, store and send nothing.
      answerAccepted(req, res, (await findListBySlug(deps.database, listSlug)).thankYouUrl, locale, listSlug);
      return;
    }
    if (isHuman && !(await isHuman(captchaToken, req.ip))) {
      throw new AppError(400, 'captcha_failed', 'The anti-bot check failed. Please try again.');
    }

    // `"acceptTypo": true`, or the form field `acceptTypo=1` of the "keep what I typed" button.
    const acceptTypo = [true, '1', 'true'].includes((body as Record<string, unknown> | undefined)?.acceptTypo as string);
    // Checked at the door, then group-committed by the service, which hands the confirmation's outbox row to the relay after the commit.
    let outcome: Awaited<ReturnType<typeof deps.subscriptions.request>>;
    try {
      outcome = await deps.subscriptions.request({ email, listSlug, locale, name, origin: requestOrigin(req), consentVersion, acceptTypo });
    } catch (error) {
      const suggestion = error instanceof AppError && error.code === 'address_typo' ? error.details?.suggestion : undefined;
      if (typeof suggestion !== 'string' || wantsJson(req)) throw error;
      // A form: the same form again, asking "Did you mean …?" with both choices.
      const fields: Record<string, string> = { list: listSlug, locale };
      if (name) fields.name = name;
      if (consentVersion) fields.consent = consentVersion;
      sendPage(res, typoPage(locale, email.trim(), suggestion, fields), 400);
      return;
    }
    deps.metrics.signups.inc();
    answerAccepted(req, res, outcome.thankYouUrl, locale, listSlug);
  });

  router.get('/thanks', async (req, res) => {
    const requested = req.query.locale;
    const locale = isLocale(requested) ? requested : pageLocale(req);
    // An unknown or mistyped list only leaves its name out: a thank-you page never fails.
    const slug = req.query.list;
    const list = typeof slug === 'string' && LIST_SLUG.test(slug) ? await findListBySlug(deps.database, slug).catch(() => null) : null;
    // The address is not in the redirect (it would sit in logs and history), so this page names none.
    sendPage(res, thanksPage(locale, { list: list ? listName(list, locale) : undefined, site: pageSite(req) }));
  });

  return router;
}

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
    sendPage(
      res,
      confirmedPage(pageLocale(req), outcome.alreadyConfirmed, { list: outcome.listName, address: outcome.email, site: pageSite(req) }),
    );
  };

  return router;
}

/** GET /lists/:slug/form: the copy-paste signup form of a list. */
function formSnippetRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database } = deps;

  // The copy-paste form of a list, with its current consent statement (docs/preferences.md).
  router.get('/lists/:slug/form', async (req, res) => {
    const list = await findListBySlug(database, req.params.slug);
    if (list.archivedAt !== null) throw new AppError(404, 'unknown_list', `There is no list called "${list.slug}".`);
    const locale = localeField(req.query.locale) ?? pageLocale(req);
    const statement = await currentConsentStatement(database, list);
    res
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(signupFormSnippet(locale, { action: `${deps.config.publicUrl}/subscribe`, listSlug: list.slug, statement }));
  });

  return router;
}

/** The signup's public routes: POST /subscribe, GET /thanks, GET|POST /confirm, POST /confirm/it-was-me, GET /lists/:slug/form. */
export function publicRoutes(deps: AppDeps): Router {
  return Router().use(subscribeRoutes(deps), confirmRoutes(deps), formSnippetRoutes(deps));
}
