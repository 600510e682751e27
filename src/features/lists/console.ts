import { Router } from 'express';
import { createList, getList, listLists, listRules, updateList } from './service.js';
import { LOCALES } from '../../platform/locales/locale.js';
import type { ConsoleContext } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { listEditPage, listsPage } from './pages.js';

const LOCALIZED_FIELDS = ['name', 'description', 'welcomeMessage'] as const;
const TEXT_FIELDS = ['thankYouUrl', 'confirmedUrl', 'fromName', 'fromEmail'] as const;

/**
 * A console form as the lists API's JSON: `name.en`, `name.fr`… become one per-locale object
 * (one plain string when every box says the same), empty boxes null, checkboxes booleans. The
 * domain then checks it exactly as it checks the API's.
 */
export function listInputFromForm(body: unknown, creating: boolean): Record<string, unknown> {
  const form = (body ?? {}) as Record<string, unknown>;
  const text = (key: string) => {
    const value = form[key];
    return typeof value === 'string' ? value.trim() : value;
  };
  const input: Record<string, unknown> = {};
  if (creating) input.slug = text('slug');
  for (const field of LOCALIZED_FIELDS) {
    const written = Object.fromEntries(
      LOCALES.map((locale) => [locale, text(`${field}.${locale}`)]).filter(([, value]) => value !== '' && value !== undefined),
    );
    const values = Object.values(written);
    input[field] =
      values.length === 0 ? null : values.length === LOCALES.length && values.every((v) => v === values[0]) ? values[0] : written;
  }
  for (const field of TEXT_FIELDS) input[field] = text(field) || null;
  input.public = form.public === 'on';
  input.goodbyeEmail = form.goodbyeEmail === 'on';
  input.remindUnconfirmed = form.remindUnconfirmed === 'on';
  return input;
}

/** /admin/lists and /admin/lists/:slug/edit (the subscribers page, /admin/lists/:slug, is the subscribers feature's). */
export function consoleRoutes({ deps, pageSession: session, sendPage: send }: ConsoleContext): Router {
  const router = Router();
  const { database, config } = deps;
  const rules = listRules(config);
  const editHref = (slug: string, notice: string) => `/admin/lists/${encodeURIComponent(slug)}/edit?notice=${notice}`;

  router.get('/lists', async (req, res) => {
    send(res, listsPage(await listLists(database), session(res), optionalText(req.query, 'notice', 16)));
  });

  router.post('/lists', async (req, res) => {
    const list = await createList(database, rules, listInputFromForm(req.body, true));
    deps.logger.info({ list: list.slug }, 'admin created a list');
    res.redirect(303, editHref(list.slug, 'created'));
  });

  router.get('/lists/:slug/edit', async (req, res) => {
    send(res, listEditPage(await getList(database, String(req.params.slug)), session(res), optionalText(req.query, 'notice', 16)));
  });

  router.post('/lists/:slug/edit', async (req, res) => {
    const list = await updateList(database, rules, String(req.params.slug), listInputFromForm(req.body, false));
    deps.logger.info({ list: list.slug }, 'admin changed a list');
    res.redirect(303, editHref(list.slug, 'saved'));
  });

  router.post('/lists/:slug/archive', async (req, res) => {
    const archived = (req.body as Record<string, unknown> | undefined)?.archived !== 'false';
    const list = await updateList(database, rules, String(req.params.slug), { archived });
    deps.logger.info({ list: list.slug, archived }, archived ? 'admin archived a list' : 'admin unarchived a list');
    res.redirect(303, editHref(list.slug, archived ? 'archived' : 'unarchived'));
  });

  return router;
}
