import { Router, type Response } from 'express';
import { listSlugs } from '../lists/index.js';
import { broadcastIdOf } from './service.js';
import { isLocale, DEFAULT_LOCALE } from '../../platform/locales/locale.js';
import type { ConsoleContext } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { BROADCAST_PAGE_CSP, broadcastPage, broadcastsPage, PREVIEW_CSP } from './pages.js';
import { ADMIN_CSP } from '../../platform/http/console.js';

/** Per-locale form fields (`subject_en`, `subject_fr`) as LocalizedText: only the locales filled in. */
function perLocale(body: unknown, name: string, maxLength: number): Record<string, string> {
  const text: Record<string, string> = {};
  for (const key of ['en', 'fr']) {
    const value = optionalText(body, `${name}_${key}`, maxLength);
    if (value !== undefined && value.trim() !== '') text[key] = value;
  }
  return text;
}

/** A textarea may hold line breaks (optionalText refuses them): read it as it is, within a length. */
function bodyText(body: unknown, name: string): Record<string, string> {
  const text: Record<string, string> = {};
  for (const key of ['en', 'fr']) {
    const value = (body as Record<string, unknown> | undefined)?.[`${name}_${key}`];
    if (typeof value === 'string' && value.trim() !== '') text[key] = value.replace(/\r\n/g, '\n');
  }
  return text;
}

/** The console's broadcast pages at /admin/broadcasts, behind the console's guard. */
export function consoleRoutes({ deps, pageSession }: ConsoleContext): Router {
  const mounted = Router();
  const router = Router();
  mounted.use('/broadcasts', router);
  const { broadcasts, database } = deps;
  const send = (res: Response, html: string, csp = ADMIN_CSP) =>
    res.status(200).set({ 'Cache-Control': 'no-store', 'Content-Security-Policy': csp }).type('html').send(html);

  router.get('/', async (req, res) => {
    send(res, broadcastsPage(await broadcasts.list(), await listSlugs(database), pageSession(res), optionalText(req.query, 'notice', 16)));
  });

  router.post('/', async (req, res) => {
    const sendAt = optionalText(req.body, 'sendAt', 32);
    const created = await broadcasts.create({
      list: optionalText(req.body, 'list', 64),
      subject: perLocale(req.body, 'subject', 200),
      body: bodyText(req.body, 'body'),
      format: optionalText(req.body, 'format', 16),
      // datetime-local has no zone: the form says UTC.
      sendAt: sendAt ? `${sendAt}${sendAt.length === 16 ? ':00' : ''}Z` : undefined,
    });
    res.redirect(303, `/admin/broadcasts/${created.id}?notice=created`);
  });

  router.get('/:id', async (req, res) => {
    const progress = await broadcasts.progress(broadcastIdOf(String(req.params.id)));
    send(res, broadcastPage(progress, pageSession(res), optionalText(req.query, 'notice', 16)), BROADCAST_PAGE_CSP(ADMIN_CSP));
  });

  // The message as a recipient sees it, alone under a sandboxing policy: no script, no form, no remote font.
  router.get('/:id/preview', async (req, res) => {
    const requested = optionalText(req.query, 'locale', 8);
    const preview = await broadcasts.preview(
      broadcastIdOf(String(req.params.id)),
      requested && isLocale(requested) ? requested : DEFAULT_LOCALE,
    );
    res.set({ 'X-Frame-Options': 'SAMEORIGIN' });
    send(res, preview.html, PREVIEW_CSP);
  });

  router.post('/:id/test', async (req, res) => {
    const id = broadcastIdOf(String(req.params.id));
    await broadcasts.sendTest(id, optionalText(req.body, 'email', 1024));
    res.redirect(303, `/admin/broadcasts/${id}?notice=test`);
  });

  for (const action of ['send', 'pause', 'resume', 'cancel'] as const) {
    router.post(`/:id/${action}`, async (req, res) => {
      const id = broadcastIdOf(String(req.params.id));
      await broadcasts[action](id);
      res.redirect(303, `/admin/broadcasts/${id}?notice=${action}`);
    });
  }
  return mounted;
}
