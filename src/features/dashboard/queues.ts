import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { RedisClient } from '../../platform/queue/redis.js';
import { Router, type RequestHandler } from 'express';
import { AppError } from '../../errors.js';
import type { MailJob } from '../../platform/queue/queues.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/**
 * bull-board's page loads its own scripts and uses inline styles, so it gets its own CSP:
 * same-origin scripts and fetches only, nothing from other sites, never framed.
 */
const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const readOnly: RequestHandler = (req, res, next) => {
  res.set('Content-Security-Policy', DASHBOARD_CSP);
  // Live queue state for admins only: never kept by a cache (nor an error answered while Redis is down).
  if (req.path.startsWith('/api/')) res.set('Cache-Control', 'no-store');
  // The outbox, not the queue, is the record of what is sent: retrying or removing jobs here
  // would go around it (a retried job whose row is done sends nothing; a removed one is re-handed).
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    next(new AppError(405, 'read_only', 'The queue dashboard is read-only: the outbox decides what is sent.'));
    return;
  }
  next();
};

const QUEUE_UNAVAILABLE = new AppError(
  503,
  'queue_unavailable',
  'Redis, which holds the mail queue, is not answering; the outbox keeps every message. Try again shortly.',
);
const INTERNAL_ERROR = new AppError(500, 'internal_error', 'Something went wrong on our side. Please try again.');

/**
 * The BullMQ dashboard for admins (mount it behind the admin sign-in), in read-only mode.
 * `redis` is the queue's connection: while it is down the dashboard's API answers 503.
 */
export function queueDashboard(queue: Queue<MailJob>, redis: Pick<RedisClient, 'status'>): Router {
  const serverAdapter = new ExpressAdapter().setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: true, allowRetries: false, displayName: 'mail (outbox messages)' })],
    serverAdapter,
  });
  // bull-board answers its API's errors itself (a 500 with the raw message); answer in our error shape instead.
  serverAdapter.setErrorHandler(() => {
    const failure = redis.status === 'ready' ? INTERNAL_ERROR : QUEUE_UNAVAILABLE;
    // bull-board's type lists fewer statuses than it passes on to express (which sends any).
    return { status: failure.status as 500, body: { error: { code: failure.code, message: failure.message } } };
  });
  const router = Router();
  router.use(readOnly, serverAdapter.getRouter() as Router);
  return router;
}
