import { Router } from 'express';
import { sql } from 'drizzle-orm';
import type { AppDeps } from '../app.js';

const REDIS_CHECK_TIMEOUT_MS = 1000;

async function redisAnswers(deps: AppDeps): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), REDIS_CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([deps.redis.ping().then((answer) => answer === 'PONG'), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function databaseAnswers(deps: AppDeps): boolean {
  try {
    deps.db.get(sql`select 1`);
    return true;
  } catch {
    return false;
  }
}

export function healthRoutes(deps: AppDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = { database: databaseAnswers(deps), redis: await redisAnswers(deps) };
    const ready = checks.database && checks.redis;
    res.set('Cache-Control', 'no-store').status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks });
  });
  return router;
}
