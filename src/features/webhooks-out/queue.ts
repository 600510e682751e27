import { createProducer, type Producer } from '../../platform/queue/queues.js';
import type { RedisServer } from '../../platform/queue/redis.js';
import { webhookAttempts, type WebhookRetryPolicy } from './deliver.js';

/** Its own queue beside `mail`, under the same QUEUE_PREFIX: a slow receiver never holds up a confirmation email. */
export const WEBHOOK_QUEUE = 'webhooks';

export interface WebhookJob {
  /** Jobs carry the delivery id; the worker re-reads the row and its endpoint. */
  deliveryId: string;
}

/**
 * The producer side, as the mail queue's: no offline queue, so nothing waits on Redis while it
 * is down (the rows wait in webhook_deliveries). Jobs retry with BullMQ's exponential backoff; a
 * finished job is removed, since the row and its attempts are the record.
 */
export function createWebhookQueue(redis: RedisServer, prefix: string, policy: WebhookRetryPolicy): Producer<WebhookJob> {
  return createProducer<WebhookJob>(WEBHOOK_QUEUE, redis, prefix, {
    attempts: webhookAttempts(policy),
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: true,
    removeOnFail: true,
  });
}
