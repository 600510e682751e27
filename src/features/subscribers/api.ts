import { pipeline, Readable } from 'node:stream';
import express, { Router } from 'express';
import { AppError } from '../../errors.js';
import { loggableMessage } from '../../platform/queue/logErrors.js';
import {
  checkMailable,
  listSubscribers,
  MAX_MAILABLE_BATCH,
  statusOf,
  subscriberBatches,
  subscriberCsvChunks,
  subscriberLimitOf,
  subscriberNdjsonChunks,
} from './service.js';
import type { AppDeps } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { sendContactExport } from '../../platform/http/respond.js';
import { contactRecord } from './contactRecord.js';
import { eraseContact } from './erasure.js';

/**
 * A `mailable` batch is up to 1000 addresses of up to 254 characters: more than the 16 KB every
 * other body gets, so this router is mounted before the app's body parsers and reads its own.
 */
const MAILABLE_BODY_LIMIT = '300kb';

/**
 * A list's subscribers for its owner and the sending tool, and one contact's record, export and
 * erasure, mounted at /admin/api behind the admin guard.
 */
export function apiRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database, config } = deps;
  const links = { publicUrl: config.publicUrl, secrets: config.secrets };

  router.get('/contacts/:email', async (req, res) => {
    res
      .set('Cache-Control', 'no-store')
      .json(await contactRecord(database, config.secrets, req.params.email, { optOutRetentionMs: config.optOutRetentionMs }));
  });

  // The person's own copy of what is kept about them (right of access), as a download.
  router.get('/contacts/:email/export', async (req, res) => {
    const record = await contactRecord(database, config.secrets, req.params.email);
    sendContactExport(res, 'contact-export.json', record);
  });

  router.delete('/contacts/:email', async (req, res) => {
    await eraseContact(database, config.secrets, req.params.email, 'admin');
    deps.logger.info('admin erased a contact');
    res.status(204).end();
  });

  router.get('/lists/:slug/subscribers', async (req, res) => {
    const page = await listSubscribers(database, links, req.params.slug as string, {
      status: statusOf(optionalText(req.query, 'status', 16)),
      q: optionalText(req.query, 'q', 254)?.trim() || undefined,
      limit: subscriberLimitOf(optionalText(req.query, 'limit', 8)),
      cursor: optionalText(req.query, 'cursor', 64) || undefined,
    });
    res.set('Cache-Control', 'no-store').json(page);
  });

  router.get('/lists/:slug/subscribers.csv', async (req, res) => {
    const slug = req.params.slug as string;
    const status = statusOf(optionalText(req.query, 'status', 16));
    const format = optionalText(req.query, 'format', 16) || 'csv';
    if (format !== 'csv' && format !== 'ndjson') throw new AppError(400, 'invalid_format', 'The format must be csv or ndjson.');
    const batches = subscriberBatches(database, links, slug, status);
    // The first batch is read before the answer starts, so an unknown list is still a clean 404.
    const first = await batches.next();
    async function* all() {
      if (!first.done) yield first.value;
      yield* batches;
    }
    const chunks = format === 'csv' ? subscriberCsvChunks(all()) : subscriberNdjsonChunks(all());
    res
      .set('Cache-Control', 'no-store')
      .attachment(`${slug}-${status}.${format}`)
      .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    // Pulled one keyset batch at a time, as fast as the client reads.
    pipeline(Readable.from(chunks), res, (error) => {
      if (error) deps.logger.warn({ err: loggableMessage(error) }, 'subscriber export stopped early');
    });
  });

  router.post('/lists/:slug/mailable', express.json({ limit: MAILABLE_BODY_LIMIT, strict: true }), async (req, res) => {
    const emails: unknown = (req.body as { emails?: unknown } | undefined)?.emails;
    if (!Array.isArray(emails) || emails.length > MAX_MAILABLE_BATCH || !emails.every((e) => typeof e === 'string')) {
      throw new AppError(400, 'invalid_emails', `Send {"emails": [...]} with at most ${MAX_MAILABLE_BATCH} addresses, each a string.`);
    }
    res.set('Cache-Control', 'no-store').json(await checkMailable(database, config.secrets, req.params.slug as string, emails as string[]));
  });

  return router;
}
