import { Queue, type JobsOptions } from 'bullmq';
import { inArray } from 'drizzle-orm';
import { writeAlone, type Database, type Scope } from '../db/database.js';
import { connectRedis, queueKeyPrefix, type RedisClient, type RedisServer } from './redis.js';

export const MAIL_QUEUE = 'mail';
/** Broadcasts' messages: a queue of their own, paced, so confirmations never wait behind them. */
export const BROADCAST_QUEUE = 'broadcast';

export interface MailJob {
  /** Jobs carry the outbox row id; the worker re-reads everything else. */
  outboxId: string;
  /** How many sends in a row a fault of the sender's setup has held (it sets the next delay). */
  senderFaults?: number;
}

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

export function mailJobOptions(retry: RetryPolicy): JobsOptions {
  return {
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/**
 * The producer side. Without the offline queue a command fails at once while Redis is down,
 * so a signup never hangs waiting for Redis: its row stays in the outbox for the relay.
 */
export interface Producer<Job> {
  queue: Queue<Job>;
  /** The producer's Redis connection, also used for readiness checks. */
  redis: RedisClient;
  close(): Promise<void>;
}
export type MailQueue = Producer<MailJob>;

/** The mail queue's producer, or the broadcast queue's (`name`): the same jobs, in a queue of their own. */
export function createMailQueue(redis: RedisServer | string, prefix: string, retry: RetryPolicy, name = MAIL_QUEUE): MailQueue {
  return createProducer<MailJob>(name, redis, prefix, mailJobOptions(retry));
}

/** A queue's producer on its own Redis connection (the mail queue's, the webhooks queue's), as described above. */
export function createProducer<Job>(
  name: string,
  server: RedisServer | string,
  prefix: string,
  defaultJobOptions: JobsOptions,
): Producer<Job> {
  const redis = connectRedis(server, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  // Connection errors surface through failed commands; without a listener ioredis would log each retry.
  redis.on('error', () => {});
  const queue = new Queue<Job>(name, { connection: redis, prefix: queueKeyPrefix(server, prefix, name), defaultJobOptions });
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

/**
 * Adds one job per id, named `name`, with data `{[field]: id}` and jobId = the id, so an id whose
 * job exists adds nothing. One id goes by add(), which costs about half the CPU of addBulk() for
 * one job (no MULTI around it): at a steady rate most hand-overs are a single signup's.
 */
export async function addJobsById<Job>(queue: Queue<Job>, name: string, field: keyof Job & string, ids: readonly string[]): Promise<void> {
  const job = (id: string) => ({ name, data: { [field]: id } as Job, opts: { jobId: id } });
  if (ids.length === 0) return;
  if (ids.length === 1) {
    const { data, opts } = job(ids[0]!);
    // BullMQ's add() types its name against the queue's; the name is a plain label here.
    await (queue as Queue).add(name, data, opts);
    return;
  }
  await (queue as Queue).addBulk(ids.map(job));
}

/** Adds a send job per outbox row. jobId is the row id, so adding a row whose job exists adds nothing. */
export function addMailJobs(queue: Queue<MailJob>, outboxIds: readonly string[]): Promise<void> {
  return addJobsById(queue, 'send', 'outboxId', outboxIds);
}

/**
 * Hands outbox rows to the queue, then stamps them handed (after Redis took them: a row Redis
 * refused stays unhanded for the relay). jobId is the row id, so handing a row twice while its
 * job exists adds nothing; the worker's sent mark covers a row handed again after its job is gone.
 */
export async function handToQueue(
  database: Database,
  queue: Queue<MailJob>,
  outboxIds: readonly string[],
  now = Date.now(),
): Promise<void> {
  if (outboxIds.length === 0) return;
  await addMailJobs(queue, outboxIds);
  await writeAlone(database, (scope: Scope) =>
    scope.db
      .update(scope.tables.outbox)
      .set({ handedAt: now })
      .where(inArray(scope.tables.outbox.id, [...outboxIds])),
  );
}
