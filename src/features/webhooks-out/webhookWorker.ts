import { Worker } from 'bullmq';
import { connectRedis, queueKeyPrefix, type RedisServer } from '../../platform/queue/redis.js';
import { deliverWebhook, type WebhookDeliveryDeps } from './deliver.js';
import { createWebhookAgents, type WebhookNetworkPolicy } from './network.js';
import { WEBHOOK_QUEUE, type WebhookJob } from './queue.js';

/** What the worker is given: its connections are made from `network` and closed with it. */
export type WebhookWorkerDeps = Omit<WebhookDeliveryDeps, 'agents'> & { network: WebhookNetworkPolicy };

export interface WebhookWorkerOptions {
  redis: RedisServer;
  prefix: string;
  concurrency: number;
  lockMs: number;
}

export interface WebhookWorker {
  /** Waits for the attempts in hand to finish, then lets go of Redis. */
  close(): Promise<void>;
}

/**
 * Runs deliveries from the `webhooks` queue. The database decides: a failed attempt with
 * retries left is thrown (BullMQ waits its backoff), the last one marks the row failed, and a
 * job that ends any other way leaves its row queued for the relay to hand again.
 */
export function startWebhookWorker({ network, ...given }: WebhookWorkerDeps, options: WebhookWorkerOptions): WebhookWorker {
  const deps: WebhookDeliveryDeps = { ...given, agents: createWebhookAgents(network) };
  const connection = connectRedis(options.redis, { maxRetriesPerRequest: null });
  const worker = new Worker<WebhookJob>(WEBHOOK_QUEUE, (job) => deliverWebhook(deps, job.data.deliveryId), {
    connection,
    prefix: queueKeyPrefix(options.redis, options.prefix, WEBHOOK_QUEUE),
    concurrency: options.concurrency,
    lockDuration: options.lockMs,
    stalledInterval: options.lockMs,
  });
  worker.on('error', (error) => deps.logger.warn({ err: error.message }, 'webhook worker error'));
  return {
    async close() {
      await worker.close(connection.status !== 'ready');
      connection.disconnect();
      deps.agents.destroy();
    },
  };
}
