import express, { Router, type RequestHandler } from 'express';
import { broadcastIdOf } from './service.js';
import type { AppDeps } from '../../app.js';

/** A broadcast's body may be long (a letter with its markup): bigger than the 16 kB forms elsewhere. */
export const BROADCAST_BODY_LIMIT = '512kb';

/** The body parsers of the broadcast routes (API and console), mounted before the app's small ones. */
export function bodyParsers(): RequestHandler[] {
  return [
    express.json({ limit: BROADCAST_BODY_LIMIT, strict: true }),
    express.urlencoded({ limit: BROADCAST_BODY_LIMIT, extended: false, parameterLimit: 50 }),
  ];
}

const field = (body: unknown, name: string): unknown =>
  body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;

/** The broadcasts' admin JSON API at /admin/api/broadcasts, behind the admin guard. */
export function apiRoutes(deps: AppDeps): Router {
  const api = Router();
  const router = Router();
  api.use('/broadcasts', router);
  const { broadcasts } = deps;
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  router.post('/', async (req, res) => {
    const body: unknown = req.body;
    const created = await broadcasts.create({
      list: field(body, 'list'),
      subject: field(body, 'subject'),
      body: field(body, 'body'),
      format: field(body, 'format'),
      sendAt: field(body, 'sendAt'),
    });
    res.status(201).json(created);
  });

  router.get('/', async (_req, res) => {
    res.json({ items: await broadcasts.list() });
  });

  router.get('/:id', async (req, res) => {
    res.json(await broadcasts.progress(broadcastIdOf(req.params.id)));
  });

  router.post('/:id/test', async (req, res) => {
    res.json(await broadcasts.sendTest(broadcastIdOf(req.params.id), field(req.body, 'email')));
  });

  for (const action of ['send', 'pause', 'resume', 'cancel'] as const) {
    router.post(`/:id/${action}`, async (req, res) => {
      res.json(await broadcasts[action](broadcastIdOf(req.params.id)));
    });
  }
  return api;
}
