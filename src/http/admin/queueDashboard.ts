import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type RequestHandler } from 'express';
import { AppError } from '../../errors.js';
import type { MailJob } from '../../queue/mailQueue.js';

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
  // The outbox, not the queue, is the record of what is sent: retrying or removing jobs here
  // would go around it (a retried job whose row is done sends nothing; a removed one is re-handed).
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    next(new AppError(405, 'read_only', 'The queue dashboard is read-only: the outbox decides what is sent.'));
    return;
  }
  next();
};

/** The BullMQ dashboard for admins (mount it behind the admin sign-in), in read-only mode. */
export function queueDashboard(queue: Queue<MailJob>): Router {
  const serverAdapter = new ExpressAdapter().setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: true, allowRetries: false, displayName: 'mail (outbox messages)' })],
    serverAdapter,
  });
  const router = Router();
  router.use(readOnly, serverAdapter.getRouter() as Router);
  return router;
}
