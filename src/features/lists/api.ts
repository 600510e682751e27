import { Router } from 'express';
import { createList, deleteList, getList, listLists, listRules, updateList } from './service.js';
import type { AppDeps } from '../../app.js';

/** The lists in the admin JSON API, mounted at /admin/api behind the admin guard. */
export function apiRoutes(deps: AppDeps): Router {
  const router = Router();
  const { database, config } = deps;
  const rules = listRules(config);

  router.get('/lists', async (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ items: await listLists(database) });
  });

  router.post('/lists', async (req, res) => {
    const list = await createList(database, rules, req.body);
    deps.logger.info({ list: list.slug }, 'admin created a list');
    res.status(201).location(`/admin/api/lists/${list.slug}`).json(list);
  });

  router.get('/lists/:slug', async (req, res) => {
    res.set('Cache-Control', 'no-store').json(await getList(database, req.params.slug));
  });

  router.patch('/lists/:slug', async (req, res) => {
    const list = await updateList(database, rules, req.params.slug, req.body);
    deps.logger.info({ list: list.slug, fields: Object.keys((req.body as object | undefined) ?? {}) }, 'admin changed a list');
    res.json(list);
  });

  router.delete('/lists/:slug', async (req, res) => {
    await deleteList(database, req.params.slug);
    deps.logger.info({ list: req.params.slug }, 'admin deleted a list');
    res.status(204).end();
  });

  return router;
}
