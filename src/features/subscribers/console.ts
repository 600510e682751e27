import { Router } from 'express';
import type { ConsoleContext } from '../../app.js';
import { AppError } from '../../errors.js';
import { optionalText, requiredText } from '../../platform/http/fields.js';
import { messagePage } from '../../platform/http/console.js';
import { parseAddress } from '../../platform/mail/address.js';
import { contactRecord } from './contactRecord.js';
import { eraseContact } from './erasure.js';
import { contactPage, listSubscribersPage } from './pages.js';
import { listSubscribers, statusOf } from './service.js';

const PAGE_SIZE = 50;

/** A list's subscribers (/admin/lists/:slug), one contact's record (/admin/contacts) and its erasure. */
export function consoleRoutes({ deps, pageSession, sendPage }: ConsoleContext): Router {
  const router = Router();
  const { database, config } = deps;
  const { secrets } = config;

  router.get('/lists/:slug', async (req, res) => {
    const slug = req.params.slug;
    const query = { status: statusOf(optionalText(req.query, 'status', 16)), q: optionalText(req.query, 'q', 254)?.trim() || undefined };
    const page = await listSubscribers(database, { publicUrl: config.publicUrl, secrets }, slug, {
      ...query,
      limit: PAGE_SIZE,
      cursor: optionalText(req.query, 'cursor', 64) || undefined,
    });
    sendPage(res, listSubscribersPage(slug, page, query, pageSession(res)));
  });

  router.get('/contacts', async (req, res) => {
    const email = optionalText(req.query, 'email', 1024)?.trim();
    if (!email) {
      res.redirect(303, '/admin/suppressions');
      return;
    }
    sendPage(
      res,
      contactPage(await contactRecord(database, secrets, email, { optOutRetentionMs: config.optOutRetentionMs }), pageSession(res)),
    );
  });

  router.post('/contacts/erase', async (req, res) => {
    const email = requiredText(req.body, 'email', 1024, 'invalid_email');
    const confirm = parseAddress(requiredText(req.body, 'confirm', 1024, 'missing_confirmation'));
    const target = parseAddress(email);
    if (!target.ok || !confirm.ok || confirm.address.emailKey !== target.address.emailKey) {
      throw new AppError(400, 'confirmation_mismatch', 'Type the contact’s address exactly to confirm the erasure.');
    }
    await eraseContact(database, secrets, email, 'admin');
    deps.logger.info('admin erased a contact');
    sendPage(
      res,
      messagePage(
        'Contact erased',
        'The contact, its subscriptions and its consent trail are deleted. The address stays blocked by its keyed hash only.',
        pageSession(res),
      ),
    );
  });

  return router;
}
