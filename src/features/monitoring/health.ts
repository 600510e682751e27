import { Router } from 'express';
import { readSenderFault, type SenderFaultRecord } from '../../platform/mail/senderFault.js';
import type { AppDeps } from '../../app.js';

const REDIS_CHECK_TIMEOUT_MS = 1000;
/** A database that takes longer than this for `select 1` (a PostgreSQL pool with no connection to spare, say) is not ready. */
const DATABASE_CHECK_TIMEOUT_MS = 2000;

/** The promise's value, or `fallback` if it fails or takes longer than `timeoutMs`. */
async function within<T>(timeoutMs: number, promise: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch {
    return fallback;
  } finally {
    clearTimeout(timer);
  }
}

const withinRedisTimeout = <T>(promise: Promise<T>, fallback: T): Promise<T> => within(REDIS_CHECK_TIMEOUT_MS, promise, fallback);

const redisAnswers = (deps: AppDeps): Promise<boolean> =>
  withinRedisTimeout(
    deps.redis.ping().then((answer) => answer === 'PONG'),
    false,
  );

/** One round trip: on PostgreSQL through the pool, so /readyz covers the pool too. */
const databaseAnswers = (deps: AppDeps): Promise<boolean> =>
  within(
    DATABASE_CHECK_TIMEOUT_MS,
    deps.database.ping().then(() => true),
    false,
  );

export function healthRoutes(deps: AppDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [database, redis] = await Promise.all([databaseAnswers(deps), redisAnswers(deps)]);
    const checks = { database, redis };
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
