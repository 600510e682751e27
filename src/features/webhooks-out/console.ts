import { Router } from 'express';
import { recentDeliveries, sendAgain } from './deliveries.js';
import { createEndpoint, deleteEndpoint, getEndpoint, listEndpoints, updateEndpoint } from './service.js';
import type { ConsoleContext } from '../../app.js';
import { optionalText } from '../../platform/http/fields.js';
import { endpointCreatedPage, endpointPage, webhooksPage } from './pages.js';

const RECENT_DELIVERIES = 50;

/** The console's webhooks pages at /admin/webhooks, behind the console's guard (forms carry the CSRF token). */
export function consoleRoutes({ deps, pageSession, sendPage: send }: ConsoleContext): Router {
  const mounted = Router();
  const router = Router();
  mounted.use('/webhooks', router);
  const { database } = deps;
  // Where receivers may be (network.ts): checked at registration and at every connection.
  const network = { production: deps.config.production, allowPrivate: deps.config.webhookAllowPrivate };
  const noticeOf = (query: unknown) => optionalText(query, 'notice', 16);

  router.get('/', async (req, res) => {
    send(res, webhooksPage(await listEndpoints(database), pageSession(res), noticeOf(req.query)));
  });

  router.post('/', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    // One checkbox ticked arrives as a string, several as an array.
    const events = typeof body.events === 'string' ? [body.events] : (body.events ?? []);
    const created = await createEndpoint(database, { url: body.url, events, description: body.description }, network);
    deps.logger.info({ endpointId: created.id }, 'admin registered a webhook endpoint');
    send(res, endpointCreatedPage(await getEndpoint(database, created.id), created.secret, pageSession(res)));
  });

  router.get('/:id', async (req, res) => {
    const endpoint = await getEndpoint(database, req.params.id);
    send(
      res,
      endpointPage(endpoint, await recentDeliveries(database, endpoint.id, RECENT_DELIVERIES), pageSession(res), noticeOf(req.query)),
    );
  });

  for (const [action, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    router.post(`/:id/${action}`, async (req, res) => {
      await updateEndpoint(database, req.params.id, { enabled }, network);
      deps.logger.info({ endpointId: req.params.id, enabled }, 'admin changed a webhook endpoint');
      res.redirect(303, `/admin/webhooks/${encodeURIComponent(req.params.id)}?notice=${action}d`);
    });
  }

  router.post('/:id/delete', async (req, res) => {
    await deleteEndpoint(database, req.params.id);
    deps.logger.info({ endpointId: req.params.id }, 'admin deleted a webhook endpoint');
    res.redirect(303, '/admin/webhooks?notice=deleted');
  });

  router.post('/:id/deliveries/:deliveryId/retry', async (req, res) => {
    await sendAgain(database, req.params.id, req.params.deliveryId);
    deps.logger.info({ endpointId: req.params.id, deliveryId: req.params.deliveryId }, 'admin sent a webhook delivery again');
    res.redirect(303, `/admin/webhooks/${encodeURIComponent(req.params.id)}?notice=retried`);
  });

  return mounted;
}
