import { Router } from 'express';
import { AppError } from '../../errors.js';
import { recentDeliveries, sendAgain } from './deliveries.js';
import { createEndpoint, deleteEndpoint, getEndpoint, listEndpoints, updateEndpoint, type EndpointInput } from './service.js';
import type { AppDeps } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';

const DEFAULT_DELIVERIES = 50;
const MAX_DELIVERIES = 500;

/** A JSON body as an object (anything else is an empty one: every field then reads as absent). */
function bodyOf(body: unknown): EndpointInput {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as EndpointInput) : {};
}

function deliveriesLimit(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_DELIVERIES;
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > MAX_DELIVERIES) {
    throw new AppError(400, 'invalid_limit', `The limit must be a whole number from 1 to ${MAX_DELIVERIES}.`);
  }
  return Number(value);
}

/** Outbound webhook endpoints (docs/webhooks.md): /admin/api/webhook-endpoints, behind the admin guard. */
export function apiRoutes(deps: AppDeps): Router {
  const api = Router();
  const router = Router();
  api.use('/webhook-endpoints', router);
  const { database } = deps;
  // Where receivers may be (network.ts): checked at registration and at every connection.
  const network = { production: deps.config.production, allowPrivate: deps.config.webhookAllowPrivate };

  router.post('/', async (req, res) => {
    const created = await createEndpoint(database, bodyOf(req.body), network);
    deps.logger.info({ endpointId: created.id }, 'admin registered a webhook endpoint');
    res.status(201).set('Cache-Control', 'no-store').json(created);
  });

  router.get('/', async (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ items: await listEndpoints(database) });
  });

  router.get('/:id', async (req, res) => {
    res.set('Cache-Control', 'no-store').json(await getEndpoint(database, req.params.id));
  });

  router.patch('/:id', async (req, res) => {
    const endpoint = await updateEndpoint(database, req.params.id, bodyOf(req.body), network);
    deps.logger.info({ endpointId: endpoint.id, enabled: endpoint.enabled }, 'admin changed a webhook endpoint');
    res.json(endpoint);
  });

  router.delete('/:id', async (req, res) => {
    await deleteEndpoint(database, req.params.id);
    deps.logger.info({ endpointId: req.params.id }, 'admin deleted a webhook endpoint');
    res.status(204).end();
  });

  router.get('/:id/deliveries', async (req, res) => {
    const items = await recentDeliveries(database, req.params.id, deliveriesLimit(optionalText(req.query, 'limit', 8)));
    res.set('Cache-Control', 'no-store').json({ items });
  });

  router.post('/:id/deliveries/:deliveryId/retry', async (req, res) => {
    await sendAgain(database, req.params.id, req.params.deliveryId);
    deps.logger.info({ endpointId: req.params.id, deliveryId: req.params.deliveryId }, 'admin sent a webhook delivery again');
    res.status(202).json({ id: req.params.deliveryId, status: 'queued' });
  });

  return api;
}
