import { eq } from 'drizzle-orm';
import { Router, type Request } from 'express';
import type { Database } from '../../platform/db/database.js';
import { optionalText } from '../../platform/http/fields.js';
import { localeField } from '../../platform/http/pages.js';
import { checkReason, recordLeavingReason, REASON_COMMENT_MAX } from './reasons.js';
import { subscriptionIdFromToken } from '../signup/index.js';
import { isLocale, type Locale } from '../../platform/locales/locale.js';
import type { UnsubscribeSource } from '../changes/index.js';
import { testCopyTarget, unsubscribeTarget, unsubscribeTestCopy, type UnsubscribeScope } from './service.js';
import type { AppDeps } from '../../app.js';
import { refuseCrossSite, requestOrigin } from '../../platform/http/origin.js';
import { LINK_CHANGES_PER_HOUR, linkRateLimited, rateLimitByKey } from '../../platform/http/rateLimit.js';
import { AppError } from '../../errors.js';
import { stringsOf } from '../../platform/locales/locale.js';
import { messagePage } from '../../platform/http/pages.js';
import { notMePage, resubscribedPage, unsubscribedPage, unsubscribePage } from './pages.js';
import { reasonsForm } from './pages.js';
import { pageLocale, pageSite, sendFormPage, sendPage, wantsJson } from '../../platform/http/respond.js';
import { reasonsThanksPage } from './pages.js';

/** The token travels in the URL: every form of the person's pages posts back to `…?token=…`. */
export const withToken = (path: string, token: unknown) => `${path}?token=${encodeURIComponent(String(token))}`;

export const tokenOf = (req: Request): unknown => req.query.token;

/** A `locale` the link or form carries, else the person's, else the browser's. */
export function formLocale(req: Request, contactLocale: string): Locale {
  return (
    localeField(req.query.locale) ??
    localeField((req.body as Record<string, unknown> | undefined)?.locale) ??
    (isLocale(contactLocale) ? contactLocale : pageLocale(req))
  );
}

/** The free text of the reasons form: lines are welcome (a textarea), other control characters are not. */
function commentOf(body: unknown): string | null {
  const value = (body as Record<string, unknown> | undefined)?.comment;
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new AppError(400, 'invalid_field', 'The field "comment" must be text.');
  const text = value.replace(/\r\n?/g, '\n');
  if (text.length > REASON_COMMENT_MAX)
    throw new AppError(400, 'field_too_long', `The field "comment" is longer than ${REASON_COMMENT_MAX} characters.`);
  if (/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/.test(text))
    throw new AppError(400, 'invalid_field', 'The field "comment" contains control characters.');
  return text;
}

/** Records the reasons form's answer for these lists (REASON_COMMENT_MAX characters of comment at most). */
export async function saveLeavingReason(database: Database, req: Request, contactId: number, listIds: number[]): Promise<void> {
  const reason = checkReason(optionalText(req.body, 'reason', 32));
  const comment = commentOf(req.body);
  await recordLeavingReason(database, { contactId, listIds, reason, comment, origin: requestOrigin(req) });
}

/**
 * The token always travels in the URL (the List-Unsubscribe header and the page form both
 * post to /unsubscribe?token=…), so the handler works whatever the body encoding is: mail
 * clients send the RFC 8058 one-click body urlencoded or as multipart/form-data.
 */
function linkToken(req: Request): unknown {
  return req.query.token ?? (req.body as Record<string, unknown> | undefined)?.token;
}

/**
 * The page's buttons send `scope`; an RFC 8058 one-click POST (a mail client, perhaps on its own)
 * sends `List-Unsubscribe=One-Click` and no scope. Only the page's own choice gets a goodbye mail.
 */
function sourceOf(req: Request): UnsubscribeSource {
  const scope = (req.body as Record<string, unknown> | undefined)?.scope;
  return scope === 'list' || scope === 'all' ? 'page' : 'one-click';
}

/** Only the page's own urlencoded form can ask for every list; a one-click POST means this list. */
function scopeOf(req: Request): UnsubscribeScope {
  return (req.body as Record<string, unknown> | undefined)?.scope === 'all' ? 'all' : 'list';
}

function linkLocale(req: Request, contactLocale: string): Locale {
  return isLocale(contactLocale) ? contactLocale : pageLocale(req);
}

/** GET|POST /unsubscribe (the page, and RFC 8058 one-click), POST /resubscribe and POST /unsubscribe/reason. */
export function publicRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database, subscriptions } = deps;
  const { secrets } = deps.config;
  const resubscribeLimit = rateLimitByKey(
    deps.redis,
    { points: LINK_CHANGES_PER_HOUR, durationSeconds: 3600, keyPrefix: `${deps.config.queuePrefix}:ratelimit:resubscribe` },
    deps.logger,
  );

  // Mail scanners fetch every link, so GET only shows the choices and changes nothing.
  router.get('/unsubscribe', async (req, res) => {
    const token = linkToken(req);
    const testCopy = await testCopyTarget(database, secrets, token);
    if (testCopy) {
      // A test copy's link: the same choices, for the address it was sent to.
      const locale = linkLocale(req, testCopy.locale);
      sendPage(res, unsubscribePage(locale, withToken('/unsubscribe', token), { list: testCopy.listName, address: testCopy.email }));
      return;
    }
    const target = await unsubscribeTarget(database, secrets, token);
    const locale = linkLocale(req, target.locale);
    const view = { list: target.listName, address: target.email };
    if (target.status === 'unsubscribed') {
      sendPage(
        res,
        unsubscribedPage(locale, { scope: 'list', notMe: false }, withToken('/resubscribe', token), { ...view, site: pageSite(req) }),
      );
    } else if (target.status === 'pending') {
      sendPage(res, notMePage(locale, withToken('/unsubscribe', token), view));
    } else {
      sendPage(res, unsubscribePage(locale, withToken('/unsubscribe', token), view));
    }
  });

  // RFC 8058 one-click: no cookie, CSRF token or Origin is asked for, and the answer is a 200, never a redirect.
  router.post('/unsubscribe', async (req, res) => {
    const token = linkToken(req);
    const testCopy = await testCopyTarget(database, secrets, token);
    if (testCopy) {
      await unsubscribeTestCopy(database, secrets, testCopy, { scope: scopeOf(req), origin: requestOrigin(req), source: sourceOf(req) });
      deps.metrics.unsubscribes.inc();
      if (wantsJson(req)) {
        res.json({ status: 'unsubscribed', list: testCopy.listName, scope: scopeOf(req) });
        return;
      }
      // No way back from here, and no reasons form: the copy was a test, not a subscription.
      const locale = linkLocale(req, testCopy.locale);
      const t = stringsOf(locale).page;
      const body = scopeOf(req) === 'all' ? t.unsubscribedAllBody : t.unsubscribedBody(testCopy.listName);
      sendPage(
        res,
        messagePage(locale, t.unsubscribedTitle, body, { list: testCopy.listName, address: testCopy.email, site: pageSite(req) }),
      );
      return;
    }
    let outcome: Awaited<ReturnType<typeof subscriptions.unsubscribe>>;
    try {
      outcome = await subscriptions.unsubscribe({ token, scope: scopeOf(req), origin: requestOrigin(req), source: sourceOf(req) });
    } catch (error) {
      // The link of an old mail after an erasure: the address is blocked by its hash already, so
      // the opt-out it asks for holds; a one-click client gets its plain 200, never an error.
      if (!(error instanceof AppError) || error.code !== 'unknown_subscription') throw error;
      if (wantsJson(req)) res.json({ status: 'unsubscribed', list: null, scope: scopeOf(req) });
      else
        sendPage(
          res,
          messagePage(
            pageLocale(req),
            stringsOf(pageLocale(req)).page.unsubscribedTitle,
            stringsOf(pageLocale(req)).page.unsubscribedAllBody,
            { site: pageSite(req) },
          ),
        );
      return;
    }
    deps.metrics.unsubscribes.inc();
    if (wantsJson(req)) {
      res.json({ status: 'unsubscribed', list: outcome.listName, scope: outcome.scope });
      return;
    }
    const locale = linkLocale(req, outcome.locale);
    // The optional "why?" form, after the opt-out is done; an RFC 8058 one-click POST gets the page without it.
    const oneClick = (req.body as Record<string, unknown> | undefined)?.['List-Unsubscribe'] === 'One-Click';
    const reasons = oneClick ? '' : reasonsForm(locale, withToken('/unsubscribe/reason', token));
    sendPage(
      res,
      unsubscribedPage(
        locale,
        outcome,
        withToken('/resubscribe', token),
        { list: outcome.listName, address: outcome.email, site: pageSite(req) },
        reasons,
      ),
    );
  });

  // Valid only with the same signed token: holding the link is the proof of the address.
  router.post('/resubscribe', async (req, res) => {
    const token = linkToken(req);
    // Limited per link (the subscription it names), so a forwarded link cannot loop unsubscribe
    // and resubscribe to flood the address; the unsubscribe itself is never limited.
    const limit = await resubscribeLimit(String(subscriptionIdFromToken(secrets, token, 'unsubscribe')));
    if (!limit.allowed) throw linkRateLimited(res, limit.retryAfterSeconds);
    // The service hands the confirmation emails it wrote (if any) to the relay after its commit.
    const outcome = await subscriptions.resubscribe({ token, origin: requestOrigin(req) });
    if (wantsJson(req)) {
      res.json({ status: outcome.status, list: outcome.listName });
      return;
    }
    const locale = linkLocale(req, outcome.locale);
    sendPage(
      res,
      resubscribedPage(locale, outcome.status === 'pending', { list: outcome.listName, address: outcome.email, site: pageSite(req) }),
    );
  });

  // The reasons form of the unsubscribe page: the unsubscribe link's token names the list.
  router.post('/unsubscribe/reason', refuseCrossSite(deps.config.publicUrl), async (req, res) => {
    const subscriptionId = subscriptionIdFromToken(secrets, tokenOf(req), 'unsubscribe');
    const { subscriptions, contacts } = database.tables;
    const [row] = await database.db
      .select({ contactId: subscriptions.contactId, listId: subscriptions.listId, locale: contacts.locale })
      .from(subscriptions)
      .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
      .where(eq(subscriptions.id, subscriptionId));
    if (!row) throw new AppError(404, 'unknown_subscription', 'This subscription no longer exists: this address receives nothing from us.');
    await saveLeavingReason(database, req, row.contactId, [row.listId]);
    sendFormPage(res, reasonsThanksPage(formLocale(req, row.locale)));
  });

  return router;
}
