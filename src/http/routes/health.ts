import { Router } from 'express';
import { sql } from 'drizzle-orm';
import { readSenderFault, type SenderFaultRecord } from '../../queue/senderFault.js';
import type { AppDeps } from '../app.js';

const REDIS_CHECK_TIMEOUT_MS = 1000;

/** The promise's value, or `fallback` if it fails or takes longer than the Redis check may. */
async function withinRedisTimeout<T>(promise: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), REDIS_CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch {
    return fallback;
  } finally {
    clearTimeout(timer);
  }
}

const redisAnswers = (deps: AppDeps): Promise<boolean> => withinRedisTimeout(deps.redis.ping().then((answer) => answer === 'PONG'), false);

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
    res.set('Cache-Control', 'no-store');
    if (!checks.database || !checks.redis) {
      res.status(503).json({ status: 'unavailable', checks });
      return;
    }
    // Degraded is still 200: signups are accepted and kept in the outbox; it is the mail that waits.
    const fault: SenderFaultRecord | null = await withinRedisTimeout(readSenderFault(deps.redis, deps.config.queuePrefix), null);
    if (fault) res.json({ status: 'degraded', checks, senderFault: { kind: fault.kind, since: new Date(fault.since).toISOString() } });
    else res.json({ status: 'ready', checks });
  });
  return router;
}
