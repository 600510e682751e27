import { Router } from 'express';
import { AppError } from '../../errors.js';
import { contactRecord } from '../subscribers/index.js';
import { minimisationDueAt } from '../subscribers/index.js';
import { joinsOf, preferenceLinkSubscription, preferencesView } from './service.js';
import type { AppDeps } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { refuseCrossSite, requestOrigin } from '../../platform/http/origin.js';
import { LINK_CHANGES_PER_HOUR, linkRateLimited, rateLimitByKey } from '../../platform/http/rateLimit.js';
import { dataLinkSubject, eraseByLink, exportByLink } from './dataLinks.js';
import { downloadPage, eraseConfirmPage, erasedPage, linkSentPage, preferencesPage, savedPage } from './pages.js';
import { formLocale, reasonsThanksPage, saveLeavingReason, tokenOf, withToken } from '../optout/index.js';
import { sendContactExport, sendFormPage } from '../../platform/http/respond.js';

/** The checked boxes of a form's field: one, or several (urlencoded repeats become an array). */
function checkedOf(body: unknown, field: 'lists' | 'consent'): string[] {
  const value = (body as Record<string, unknown> | undefined)?.[field];
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  if (values.length > 200 || values.some((v) => typeof v !== 'string' || v.length > 64))
    throw new AppError(400, 'invalid_field', `The field "${field}" must be ${field === 'lists' ? 'list names' : 'statement versions'}.`);
  return values as string[];
}
const slugsOf = (body: unknown) => checkedOf(body, 'lists');

/**
 * The person's side: the preference centre (`/preferences?token=…`, from the "Manage your
 * subscriptions" link of every mail), their data, its download and erasure, and the optional
 * reasons for leaving the lists they left there.
 */
export function publicRoutes(deps: AppDeps): Router {
  const router = Router();
  // The link travels with every forwarded mail: another site must not make its holder's browser act on it.
  const sameSiteOnly = refuseCrossSite(deps.config.publicUrl);
  router.post('/preferences{/*rest}', sameSiteOnly);
  const { database } = deps;
  const { secrets } = deps.config;
  const retention = deps.config.optOutRetentionMs;
  const joinLimit = rateLimitByKey(
    deps.redis,
    { points: LINK_CHANGES_PER_HOUR, durationSeconds: 3600, keyPrefix: `${deps.config.queuePrefix}:ratelimit:preferences-join` },
    deps.logger,
  );

  // Mail scanners fetch every link: GET shows and changes nothing.
  router.get('/preferences', async (req, res) => {
    const token = tokenOf(req);
    const view = await preferencesView(database, secrets, token);
    const record = await contactRecord(database, secrets, view.contact.email);
    const locale = formLocale(req, view.contact.locale);
    sendFormPage(
      res,
      preferencesPage({
        locale,
        view,
        record,
        actions: {
          save: withToken('/preferences', token),
          export: withToken('/preferences/export', token),
          erase: withToken('/preferences/erase', token),
        },
        retentionDays: Math.round(retention / 86_400_000),
        minimizesAt: await minimisationDueAt(database, secrets, view.contact.id, retention),
      }),
    );
  });

  router.post('/preferences', async (req, res) => {
    const token = tokenOf(req);
    const all = optionalText(req.body, 'all', 8) === '1';
    const wanted = slugsOf(req.body);
    // Joining is limited per link (a forwarded link must not subscribe and unsubscribe the
    // address in a loop, each with its mail); leaving never is. Only a form that joins counts.
    const limit =
      !all && joinsOf(await preferencesView(database, secrets, token), wanted).length > 0
        ? await joinLimit(String(preferenceLinkSubscription(secrets, token)))
        : ({ allowed: true } as const);
    const mayJoin = limit.allowed;
    // The service hands the goodbye mails it wrote (if any) to the relay after its commit.
    const change = await deps.subscriptions.updatePreferences({
      token,
      wanted,
      all,
      origin: requestOrigin(req),
      mayJoin,
      consents: checkedOf(req.body, 'consent'),
    });
    if (!limit.allowed) {
      // Nothing else was asked for, so nothing changed: the limit's own answer. Else the page says which joins wait.
      if (change.held.length > 0 && change.unsubscribed.length === 0) throw linkRateLimited(res, limit.retryAfterSeconds);
      res.set('Retry-After', String(limit.retryAfterSeconds));
    }
    if (change.unsubscribed.length > 0) deps.metrics.unsubscribes.inc(change.unsubscribed.length);
    const locale = formLocale(req, change.view.contact.locale);
    sendFormPage(res, savedPage(locale, change, withToken('/preferences', token), withToken('/preferences/reason', token)));
  });

  // Asking for the data, or for its erasure, mails a one-time link to the address itself: the
  // preference link travels with every forwarded mail, and whoever holds it must not act on it.
  router.post('/preferences/export', async (req, res) => {
    const token = tokenOf(req);
    const request = await deps.subscriptions.requestDataLink({ token, action: 'export' });
    const locale = formLocale(req, request.contact.locale);
    sendFormPage(res, linkSentPage(locale, 'export', request.contact.email, request.outcome, withToken('/preferences', token)));
  });

  // First press: the page that asks once more. Its one button posts `confirm=yes` here, which mails the link.
  router.post('/preferences/erase', async (req, res) => {
    const token = tokenOf(req);
    if (optionalText(req.body, 'confirm', 8) !== 'yes') {
      const view = await preferencesView(database, secrets, token);
      const locale = formLocale(req, view.contact.locale);
      sendFormPage(
        res,
        eraseConfirmPage(locale, withToken('/preferences/erase', token), view.contact.email, withToken('/preferences', token)),
      );
      return;
    }
    const request = await deps.subscriptions.requestDataLink({ token, action: 'erase' });
    const locale = formLocale(req, request.contact.locale);
    sendFormPage(res, linkSentPage(locale, 'erase', request.contact.email, request.outcome, withToken('/preferences', token)));
  });

  // The mailed links. GET shows a button and changes nothing (mail scanners fetch every link).
  router.get('/preferences/erase/confirm', async (req, res) => {
    const { contact } = await dataLinkSubject(database, secrets, tokenOf(req), 'erase');
    sendFormPage(res, eraseConfirmPage(formLocale(req, contact.locale), withToken(req.path, tokenOf(req)), contact.email, null));
  });

  router.post('/preferences/erase/confirm', async (req, res) => {
    const { contact } = await dataLinkSubject(database, secrets, tokenOf(req), 'erase');
    const locale = formLocale(req, contact.locale);
    if (optionalText(req.body, 'confirm', 8) !== 'yes') {
      sendFormPage(res, eraseConfirmPage(locale, withToken(req.path, tokenOf(req)), contact.email, null));
      return;
    }
    await eraseByLink(database, secrets, tokenOf(req));
    deps.logger.info('a contact erased themselves through the link mailed to them');
    sendFormPage(res, erasedPage(locale));
  });

  router.get('/preferences/export/download', async (req, res) => {
    const { contact } = await dataLinkSubject(database, secrets, tokenOf(req), 'export');
    sendFormPage(res, downloadPage(formLocale(req, contact.locale), withToken(req.path, tokenOf(req)), contact.email));
  });

  // A POST (a button), not a link: fetching a URL must not record a download.
  router.post('/preferences/export/download', async (req, res) => {
    const record = await exportByLink(database, secrets, { token: tokenOf(req), origin: requestOrigin(req) });
    sendContactExport(res, 'my-data.json', record);
  });

  router.post('/preferences/reason', async (req, res) => {
    const view = await preferencesView(database, secrets, tokenOf(req));
    const slugs = new Set(slugsOf(req.body));
    const listIds = view.lists.filter(({ list }) => slugs.has(list.slug)).map(({ list }) => list.id);
    await saveLeavingReason(database, req, view.contact.id, listIds);
    sendFormPage(res, reasonsThanksPage(formLocale(req, view.contact.locale)));
  });

  return router;
}
