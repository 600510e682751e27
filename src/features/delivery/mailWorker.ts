import { DelayedError, Worker, type Job } from 'bullmq';
import { DrizzleQueryError } from 'drizzle-orm';
import { SenderSetupError } from '../../platform/mail/sendErrors.js';
import type { Metrics } from '../../metrics.js';
import { loggableMessage } from '../../platform/queue/logErrors.js';
import { deliverOutboxMessage, markDeliveryFailed, type DeliveryDeps } from './service.js';
import { MAIL_QUEUE, type MailJob } from '../../platform/queue/queues.js';
import { connectRedis, queueKeyPrefix, type RedisServer } from '../../platform/queue/redis.js';
import { senderFaultRetryDelayMs, trackSenderFaults } from '../../platform/mail/senderFault.js';

export interface MailWorkerOptions {
  redis: RedisServer;
  prefix: string;
  concurrency: number;
  /** How long a worker's claim on a job lasts without renewal; a dead worker's jobs are taken over after it. */
  lockMs: number;
  /** SEND_BACKOFF_MS: the first delay of a message held by a fault of the sender's setup, doubled after each. */
  backoffMs: number;
  /** The queue worked on: MAIL_QUEUE (default) or BROADCAST_QUEUE. */
  queueName?: string;
  /**
   * BullMQ's rate limiter: at most `max` jobs per `duration` ms, counted in Redis for every worker
   * of the queue (so two processes share one pace). Jobs over it wait in the queue.
   */
  limiter?: { max: number; duration: number };
}

export type MailWorkerDeps = DeliveryDeps & { metrics: DeliveryDeps['metrics'] & Pick<Metrics, 'senderFaults'> };

export interface MailWorker {
  worker: Worker<MailJob>;
  /** Waits for the jobs in hand to finish, then lets go of Redis. */
  close(): Promise<void>;
}

export function startMailWorker(deps: MailWorkerDeps, options: MailWorkerOptions): MailWorker {
  // A worker's blocking connection must retry forever rather than give up on a Redis restart.
  const connection = connectRedis(options.redis, { maxRetriesPerRequest: null });
  const queueName = options.queueName ?? MAIL_QUEUE;
  const senderFaults = trackSenderFaults(connection, options.prefix, deps.logger, deps.metrics);

  /**
   * A fault of the sender's setup is not the message's: it waits (delayed, not failed) and is
   * tried again later, with no attempt limit, since a failed job would end as a failed row.
   * BullMQ counts no attempt for a job moved to delayed by its processor (DelayedError).
   */
  async function holdForSenderFault(job: Job<MailJob>, token: string | undefined, error: SenderSetupError): Promise<never> {
    const faultsInARow = (job.data.senderFaults ?? 0) + 1;
    const retryInMs = senderFaultRetryDelayMs(faultsInARow, options.backoffMs);
    senderFaults.held(error, { outboxId: job.data.outboxId, faultsInARow, retryInMs });
    await job.updateData({ ...job.data, senderFaults: faultsInARow });
    await job.moveToDelayed(Date.now() + retryInMs, token);
    throw new DelayedError(error.message);
  }

  const worker = new Worker<MailJob>(
    queueName,
    async (job, token) => {
      let outcome;
      try {
        outcome = await deliverOutboxMessage(deps, job.data.outboxId);
      } catch (error) {
        if (error instanceof SenderSetupError) return holdForSenderFault(job, token, error);
        // BullMQ keeps the message in Redis as the job's failedReason: not a query's parameters.
        if (error instanceof DrizzleQueryError) throw new Error(loggableMessage(error));
        throw error;
      }
      // The server took the message, or judged its recipient: our login and sender pass.
      if (outcome === 'sent' || outcome === 'bounced') senderFaults.working();
      return outcome;
    },
    {
      connection,
      prefix: queueKeyPrefix(options.redis, options.prefix, queueName),
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      // Look for jobs whose worker died about as often as a lock lasts, so they are taken over soon.
      stalledInterval: options.lockMs,
      ...(options.limiter ? { limiter: options.limiter } : {}),
    },
  );
  const markings = new Set<Promise<void>>();
  worker.on('failed', (job, error) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    // A job that stalled too often also ends here with attempts to spare: the relay re-hands it.
    if (job.attemptsMade >= attempts) {
      // Conditional on the row still being queued, so a worker or relay that got there first is not counted twice.
      const marking = markDeliveryFailed(
        deps.database,
        job.data.outboxId,
        `gave up after ${job.attemptsMade} attempts: ${loggableMessage(error)}`,
      ).then(
        (changed) => {
          if (changed) deps.metrics.sends.inc({ outcome: 'failed' });
          deps.logger.error({ outboxId: job.data.outboxId, err: loggableMessage(error) }, 'message failed after every retry');
        },
        (markError: unknown) =>
          // The row stays queued: the relay finds the job failed for good and marks it then.
          deps.logger.error(
            { outboxId: job.data.outboxId, err: loggableMessage(error), markErr: loggableMessage(markError) },
            'message failed after every retry; marking its row failed did not work',
          ),
      );
      // close() waits for it, so the database is not closed under it.
      marking.finally(() => markings.delete(marking));
      markings.add(marking);
    } else {
      deps.logger.warn({ outboxId: job.data.outboxId, attempt: job.attemptsMade, err: loggableMessage(error) }, 'send failed; will retry');
    }
  });
  worker.on('error', (error) => deps.logger.warn({ err: error.message }, 'mail worker error'));
  return {
    worker,
    async close() {
      // With Redis away, a graceful close would wait for it forever; no job can complete
      // without Redis anyway, and the outbox keeps every unsent message for the next start.
      await worker.close(connection.status !== 'ready');
      await Promise.allSettled([...markings]);
      connection.disconnect();
    },
  };
}
