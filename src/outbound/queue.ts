import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { webhookAttempts, type WebhookRetryPolicy } from './deliver.js';

/** Its own queue beside `mail`, under the same QUEUE_PREFIX: a slow receiver never holds up a confirmation email. */
export const WEBHOOK_QUEUE = 'webhooks';

export interface WebhookJob {
  /** Jobs carry the delivery id; the worker re-reads the row and its endpoint. */
  deliveryId: string;
}

export interface WebhookQueue {
  queue: Queue<WebhookJob>;
  /** The producer's Redis connection: the relay hands everything again each time it (re)connects. */
  redis: Redis;
  close(): Promise<void>;
}

/**
 * The producer side, as createMailQueue: no offline queue, so nothing waits on Redis while it is
 * down (the rows wait in webhook_deliveries). Jobs retry with BullMQ's exponential backoff; a
 * finished job is removed, since the row and its attempts are the record.
 */
export function createWebhookQueue(redisUrl: string, prefix: string, policy: WebhookRetryPolicy): WebhookQueue {
  const redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const queue = new Queue<WebhookJob>(WEBHOOK_QUEUE, {
    connection: redis,
    prefix,
    defaultJobOptions: { attempts: webhookAttempts(policy), backoff: { type: 'exponential', delay: policy.backoffMs }, removeOnComplete: true, removeOnFail: true },
  });
  queue.on('error', () => {});
  return {
    queue,
    redis,
    async close() {
      try {
        await queue.close();
      } finally {
        redis.disconnect();
      }
    },
  };
}
