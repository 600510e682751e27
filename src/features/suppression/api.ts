import { pipeline, Readable } from 'node:stream';
import { Router } from 'express';
import { SUPPRESSION_REASONS, type SuppressionReason } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { maskEmail } from '../../logger.js';
import { loggableMessage } from '../../platform/queue/logErrors.js';
import { suppressionCsvChunks } from './csv.js';
import { addDomainSuppression, addSuppression, liftSuppression, listSuppressions } from './service.js';
import { importCsvUpload } from './upload.js';
import type { AppDeps } from '../../app.js';
import { optionalText, requiredText } from '../../platform/http/fields.js';

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 500;

export function reasonOf(value: string | undefined): SuppressionReason | undefined {
  if (value === undefined || value === '') return undefined;
  if ((SUPPRESSION_REASONS as readonly string[]).includes(value)) return value as SuppressionReason;
  throw new AppError(400, 'invalid_reason', `The reason must be one of: ${SUPPRESSION_REASONS.join(', ')}.`);
}

/** `kind=domain` (domain blocks only) or `kind=address` (address entries only). */
export function kindOf(value: string | undefined): 'domain' | 'address' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'domain' || value === 'address') return value;
  throw new AppError(400, 'invalid_kind', 'The kind must be domain or address.');
}

function limitOf(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_PAGE_SIZE;
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > MAX_PAGE_SIZE) {
    throw new AppError(400, 'invalid_limit', `The limit must be a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  }
  return Number(value);
}

function idOf(value: string | undefined): number {
  if (!value || !/^[1-9]\d{0,15}$/.test(value)) throw new AppError(404, 'unknown_suppression', 'There is no such suppression entry.');
  return Number(value);
}

/** The suppression list in the admin JSON API, mounted at /admin/api behind the admin guard. */
export function apiRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database } = deps;
  const { secrets } = deps.config;

  router.get('/suppressions.csv', (_req, res) => {
    res.set('Cache-Control', 'no-store').attachment('suppressions.csv').type('text/csv; charset=utf-8');
    // Pulled one keyset batch at a time, as fast as the client reads.
    pipeline(Readable.from(suppressionCsvChunks(database)), res, (error) => {
      if (error) deps.logger.warn({ err: loggableMessage(error) }, 'suppression CSV export stopped early');
    });
  });

  router.post('/suppressions/import', async (req, res) => {
    const counts = await importCsvUpload(req, database, secrets, 'import');
    deps.logger.info(
      { added: counts.added, alreadyPresent: counts.alreadyPresent, invalid: counts.invalid },
      'admin imported suppression entries',
    );
    res.json(counts);
  });

  router.get('/suppressions', async (req, res) => {
    const page = await listSuppressions(database, secrets, {
      q: optionalText(req.query, 'q', 254),
      list: optionalText(req.query, 'list', 64),
      reason: reasonOf(optionalText(req.query, 'reason', 32)),
      kind: kindOf(optionalText(req.query, 'kind', 16)),
      limit: limitOf(optionalText(req.query, 'limit', 8)),
      cursor: optionalText(req.query, 'cursor', 64) || undefined,
    });
    res.set('Cache-Control', 'no-store').json(page);
  });

  router.post('/suppressions', async (req, res) => {
    const body: unknown = req.body;
    const domain = optionalText(body, 'domain', 260);
    if (domain !== undefined && optionalText(body, 'email', 1024) === undefined) {
      // A whole domain: {"domain": "spam.example"} or {"domain": "*.spam.example"} (its subdomains too).
      const { item, created } = await addDomainSuppression(database, {
        domain,
        reason: reasonOf(optionalText(body, 'reason', 32)) ?? 'manual',
        list: optionalText(body, 'list', 64) || undefined,
        source: 'admin',
      });
      if (created) deps.logger.info({ id: item.id, domain: item.domain, reason: item.reason, list: item.list }, 'admin blocked a domain');
      res.status(201).json(item);
      return;
    }
    const { item, created } = await addSuppression(database, secrets, {
      email: requiredText(body, 'email', 1024, 'invalid_email'),
      reason: reasonOf(optionalText(body, 'reason', 32)) ?? 'manual',
      list: optionalText(body, 'list', 64) || undefined,
      source: 'admin',
    });
    if (created)
      deps.logger.info(
        { id: item.id, email: maskEmail(item.email ?? ''), reason: item.reason, list: item.list },
        'admin added a suppression entry',
      );
    // 201 for a repeat too: the entry the caller asked for exists, and the answer names it.
    res.status(201).json(item);
  });

  router.delete('/suppressions/:id', async (req, res) => {
    const reason = optionalText(req.body, 'reason', 500) ?? optionalText(req.query, 'reason', 500);
    const id = idOf(req.params.id);
    await liftSuppression(database, { id, reason, by: 'admin' });
    deps.logger.info({ id }, 'admin lifted a suppression entry');
    res.status(204).end();
  });

  return router;
}
