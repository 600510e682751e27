import { Router } from 'express';
import type { ConsoleContext } from '../../app.js';
import { maskEmail } from '../../logger.js';
import { optionalText, requiredText } from '../../platform/http/fields.js';
import { listSlugs } from '../lists/index.js';
import { kindOf, reasonOf } from './api.js';
import { importResultPage, suppressionsPage } from './pages.js';
import { addDomainSuppression, addSuppression, liftSuppression, listSuppressions } from './service.js';
import { importCsvUpload } from './upload.js';

const PAGE_SIZE = 50;

/** The suppression list's pages: search, add, import a CSV, lift with a reason. */
export function consoleRoutes({ deps, pageSession, sendPage }: ConsoleContext): Router {
  const router = Router();
  const { database, config } = deps;
  const { secrets } = config;

  router.get('/suppressions', async (req, res) => {
    const query = {
      q: optionalText(req.query, 'q', 254)?.trim() || undefined,
      list: optionalText(req.query, 'list', 64) || undefined,
      reason: reasonOf(optionalText(req.query, 'reason', 32)),
      kind: kindOf(optionalText(req.query, 'kind', 16)),
      cursor: optionalText(req.query, 'cursor', 64) || undefined,
    };
    const page = await listSuppressions(database, secrets, { ...query, limit: PAGE_SIZE });
    sendPage(res, suppressionsPage(page, query, await listSlugs(database), pageSession(res), optionalText(req.query, 'notice', 16)));
  });

  router.post('/suppressions', async (req, res) => {
    const typed = requiredText(req.body, 'email', 1024, 'invalid_email').trim();
    if (!typed.includes('@')) {
      // No "@": a whole domain (spam.example, or *.spam.example with its subdomains).
      const { item } = await addDomainSuppression(database, {
        domain: typed,
        reason: reasonOf(optionalText(req.body, 'reason', 32)) ?? 'manual',
        list: optionalText(req.body, 'list', 64) || undefined,
        source: 'admin',
      });
      deps.logger.info({ id: item.id, domain: item.domain }, 'admin blocked a domain');
      res.redirect(303, `/admin/suppressions?${new URLSearchParams({ kind: 'domain', notice: 'domain' }).toString()}`);
      return;
    }
    const { item, created } = await addSuppression(database, secrets, {
      email: typed,
      reason: reasonOf(optionalText(req.body, 'reason', 32)) ?? 'manual',
      list: optionalText(req.body, 'list', 64) || undefined,
      source: 'admin',
    });
    if (created)
      deps.logger.info(
        { id: item.id, email: maskEmail(item.email ?? ''), reason: item.reason, list: item.list },
        'admin added a suppression entry',
      );
    res.redirect(303, `/admin/suppressions?${new URLSearchParams({ q: item.email ?? '', notice: 'added' }).toString()}`);
  });

  router.post('/suppressions/import', async (req, res) => {
    const counts = await importCsvUpload(req, database, secrets, 'import');
    deps.logger.info(
      { added: counts.added, alreadyPresent: counts.alreadyPresent, invalid: counts.invalid },
      'admin imported suppression entries',
    );
    sendPage(res, importResultPage(counts, pageSession(res)));
  });

  router.post('/suppressions/:id/lift', async (req, res) => {
    const id = /^[1-9]\d{0,15}$/.test(String(req.params.id)) ? Number(req.params.id) : 0;
    const reason = requiredText(req.body, 'reason', 500, 'missing_reason');
    await liftSuppression(database, { id, reason, by: 'admin' });
    deps.logger.info({ id }, 'admin lifted a suppression entry');
    res.redirect(303, '/admin/suppressions?notice=lifted');
  });

  return router;
}
