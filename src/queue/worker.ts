import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { deliverOutboxMessage, markDeliveryFailed, type DeliveryDeps } from './deliver.js';
import { MAIL_QUEUE, type MailJob } from './mailQueue.js';

export interface MailWorkerOptions {
  redisUrl: string;
  prefix: string;
  concurrency: number;
  /** How long a worker's claim on a job lasts without renewal; a dead worker's jobs are taken over after it. */
  lockMs: number;
}

export interface MailWorker {
  worker: Worker<MailJob>;
  /** Waits for the jobs in hand to finish, then lets go of Redis. */
  close(): Promise<void>;
}

export function startMailWorker(deps: DeliveryDeps, options: MailWorkerOptions): MailWorker {
  // A worker's blocking connection must retry forever rather than give up on a Redis restart.
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const worker = new Worker<MailJob>(MAIL_QUEUE, (job) => deliverOutboxMessage(deps, job.data.outboxId), {
    connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockMs,
    // Look for jobs whose worker died about as often as a lock lasts, so they are taken over soon.
    stalledInterval: options.lockMs,
  });
  worker.on('failed', (job, error) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    // A job that stalled too often also ends here with attempts to spare: the relay re-hands it.
    if (job.attemptsMade >= attempts) {
      if (markDeliveryFailed(deps.db, job.data.outboxId, `gave up after ${job.attemptsMade} attempts: ${error.message}`)) {
        deps.metrics.sends.inc({ outcome: 'failed' });
      }
      deps.logger.error({ outboxId: job.data.outboxId, err: error.message }, 'message failed after every retry');
    } else {
      deps.logger.warn({ outboxId: job.data.outboxId, attempt: job.attemptsMade, err: error.message }, 'send failed; will retry');
    }
  });
  worker.on('error', (error) => deps.logger.warn({ err: error.message }, 'mail worker error'));
  return {
    worker,
    async close() {
      // With Redis away, a graceful close would wait for it forever; no job can complete
      // without Redis anyway, and the outbox keeps every unsent message for the next start.
      await worker.close(connection.status !== 'ready');
      connection.disconnect();
    },
  };
}
