import type { Queue } from 'bullmq';
import type { RedisClient } from './redis.js';
import { readSenderFault } from '../mail/senderFault.js';

/** What the mail queue looks like right now, for the dashboard. */
export interface QueueHealth {
  counts: Record<string, number>;
  /** The sender problem the worker is waiting out (SMTP login, sender refused), if any. */
  senderFault: string | null;
}

const STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * The mail queue's job counts and any sender fault, for the dashboard; null when Redis does not
 * answer within `timeoutMs` (BullMQ's connection waits for Redis forever, the page must not).
 */
export async function readQueueHealth(
  queue: Pick<Queue, 'getJobCounts'>,
  redis: Pick<RedisClient, 'get'>,
  queuePrefix: string,
  timeoutMs = 500,
): Promise<QueueHealth | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const read = (async (): Promise<QueueHealth> => {
    const [counts, fault] = await Promise.all([queue.getJobCounts(...STATES), readSenderFault(redis, queuePrefix)]);
    return { counts: Object.fromEntries(STATES.map((s) => [s, counts[s] ?? 0])), senderFault: fault?.kind ?? null };
  })();
  try {
    return await Promise.race([read.catch(() => null), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
