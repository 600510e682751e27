import { eq } from 'drizzle-orm';
import { Router, type Request, type Response } from 'express';
import { AppError } from '../../errors.js';
import { isLocale, type Locale } from '../../platform/locales/locale.js';
import { contactRecord } from '../subscribers/contactRecord.js';
import { recordConsent } from '../policy/consentTrail.js';
import { currentConsentStatement } from '../consent/service.js';
import { eraseContact } from '../subscribers/erasure.js';
import { minimisationDueAt } from '../subscribers/minimise.js';
import { preferencesView } from './service.js';
import { checkReason, recordLeavingReason, REASON_COMMENT_MAX } from '../optout/reasons.js';
import { findListBySlug } from '../signup/service.js';
import { subscriptionIdFromToken } from '../signup/confirm.js';
import type { AppDeps } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { requestOrigin } from '../../platform/http/origin.js';
import { localeField } from '../../platform/http/pages.js';
import { eraseConfirmPage, erasedPage, preferencesPage, PREFERENCES_CSP, reasonsThanksPage, savedPage, signupFormSnippet } from './pages.js';
import { pageLocale, sendContactExport, sendPage } from '../../platform/http/respond.js';

const withToken = (path: string, token: unknown) => `${path}?token=${encodeURIComponent(String(token))}`;

/** The token travels in the URL: every form of these pages posts back to `…?token=…`. */
const tokenOf = (req: Request): unknown => req.query.token;

/** A `locale` the link or form carries, else the person's, else the browser's. */
function localeFor(req: Request, contactLocale: string): Locale {
  return localeField(req.query.locale) ?? localeField((req.body as Record<string, unknown> | undefined)?.locale) ?? (isLocale(contactLocale) ? contactLocale : pageLocale(req));
}

/** The checked boxes of a form: one `lists` field, or several (urlencoded repeats become an array). */
function slugsOf(body: unknown): string[] {
  const value = (body as Record<string, unknown> | undefined)?.lists;
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  if (values.length > 200 || values.some((v) => typeof v !== 'string' || v.length > 64)) throw new AppError(400, 'invalid_field', 'The field "lists" must be list names.');
  return values as string[];
}

/** The free text of the reasons form: lines are welcome (a textarea), other control characters are not. */
function commentOf(body: unknown): string | null {
  const value = (body as Record<string, unknown> | undefined)?.comment;
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new AppError(400, 'invalid_field', 'The field "comment" must be text.');
  const text = value.replace(/\r\n?/g, '\n');
  if (text.length > REASON_COMMENT_MAX) throw new AppError(400, 'field_too_long', `The field "comment" is longer than ${REASON_COMMENT_MAX} characters.`);
  if (/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) throw new AppError(400, 'invalid_field', 'The field "comment" contains control characters.');
  return text;
}

function sendPreferencesPage(res: Response, html: string): void {
  res.set('Content-Security-Policy', PREFERENCES_CSP);
  sendPage(res, html);
}

/**
 * The person's side: the preference centre (`/preferences?token=…`, from the "Manage your
 * subscriptions" link of every mail), their data, its download and erasure, the optional
 * reasons for leaving, and the signup form snippet of a list.
 */
export function preferenceRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database } = deps;
  const { secrets } = deps.config;
  const retention = deps.config.optOutRetentionMs;

  // Mail scanners fetch every link: GET shows and changes nothing.
  router.get('/preferences', async (req, res) => {
    const token = tokenOf(req);
    const view = await preferencesView(database, secrets, token);
    const record = await contactRecord(database, secrets, view.contact.email);
    const locale = localeFor(req, view.contact.locale);
    sendPreferencesPage(
      res,
      preferencesPage({
        locale,
        view,
        record,
        actions: { save: withToken('/preferences', token), export: withToken('/preferences/export', token), erase: withToken('/preferences/erase', token) },
        retentionDays: Math.round(retention / 86_400_000),
        minimizesAt: await minimisationDueAt(database, secrets, view.contact.id, retention),
      }),
    );
  });

  router.post('/preferences', async (req, res) => {
    const token = tokenOf(req);
    const all = optionalText(req.body, 'all', 8) === '1';
    // The service hands the goodbye mails it wrote (if any) to the relay after its commit.
    const change = await deps.subscriptions.updatePreferences({ token, wanted: slugsOf(req.body), all, origin: requestOrigin(req) });
    if (change.unsubscribed.length > 0) deps.metrics.unsubscribes.inc(change.unsubscribed.length);
    const locale = localeFor(req, change.view.contact.locale);
    sendPreferencesPage(res, savedPage(locale, change, withToken('/preferences', token), withToken('/preferences/reason', token)));
  });

  // A POST (a button), not a link: fetching a URL must not record a download.
  router.post('/preferences/export', async (req, res) => {
    const view = await preferencesView(database, secrets, tokenOf(req));
    await database.transaction((tx) => recordConsent(tx, { contactId: view.contact.id, listId: null, action: 'data_exported', at: Date.now(), origin: requestOrigin(req), detail: 'preference centre' }));
    const record = await contactRecord(database, secrets, view.contact.email);
    sendContactExport(res, 'my-data.json', record);
  });

  // First press: the page that asks once more. Its one button posts `confirm=yes` here.
  router.post('/preferences/erase', async (req, res) => {
    const token = tokenOf(req);
    const view = await preferencesView(database, secrets, token);
    const locale = localeFor(req, view.contact.locale);
    if (optionalText(req.body, 'confirm', 8) !== 'yes') {
      sendPreferencesPage(res, eraseConfirmPage(locale, withToken('/preferences/erase', token), view.contact.email, withToken('/preferences', token)));
      return;
    }
    // The consent log keeps "a contact was erased by the preference centre", and nothing about whom.
    await eraseContact(database, secrets, view.contact.email, 'preference centre');
    deps.logger.info('a contact erased themselves from the preference centre');
    sendPreferencesPage(res, erasedPage(locale));
  });

  router.post('/preferences/reason', async (req, res) => {
    const view = await preferencesView(database, secrets, tokenOf(req));
    const slugs = new Set(slugsOf(req.body));
    const listIds = view.lists.filter(({ list }) => slugs.has(list.slug)).map(({ list }) => list.id);
    await saveReason(req, view.contact.id, listIds);
    sendPreferencesPage(res, reasonsThanksPage(localeFor(req, view.contact.locale)));
  });

  // The reasons form of the unsubscribe page: the unsubscribe link's token names the list.
  router.post('/unsubscribe/reason', async (req, res) => {
    const subscriptionId = subscriptionIdFromToken(secrets, tokenOf(req), 'unsubscribe');
    const { subscriptions, contacts } = database.tables;
    const [row] = await database.db
      .select({ contactId: subscriptions.contactId, listId: subscriptions.listId, locale: contacts.locale })
      .from(subscriptions)
      .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
      .where(eq(subscriptions.id, subscriptionId));
    if (!row) throw new AppError(404, 'unknown_subscription', 'This subscription no longer exists: this address receives nothing from us.');
    await saveReason(req, row.contactId, [row.listId]);
    sendPreferencesPage(res, reasonsThanksPage(localeFor(req, row.locale)));
  });

  async function saveReason(req: Request, contactId: number, listIds: number[]): Promise<void> {
    const reason = checkReason(optionalText(req.body, 'reason', 32));
    const comment = commentOf(req.body);
    await recordLeavingReason(database, { contactId, listIds, reason, comment, origin: requestOrigin(req) });
  }

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

