import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** Where Redis is: REDIS_URL, which with REDIS_CLUSTER=true is the seed node of a Redis Cluster. */
export interface RedisServer {
  url: string;
  cluster: boolean;
}

/** A connection to a single Redis server or to a cluster: both answer the commands the service uses. */
export type RedisClient = Redis | Cluster;

/**
 * Opens a connection with the options its use needs (a producer's, a worker's), written as for a
 * single server. A bare URL is a single server. On a cluster the seed node tells where the other
 * nodes are; they are reached with the seed's credentials and TLS, and the offline queue is the
 * cluster's, so a producer still fails at once while the cluster is away.
 */
export function connectRedis(server: RedisServer | string, options: RedisOptions = {}): RedisClient {
  const { url, cluster } = typeof server === 'string' ? { url: server, cluster: false } : server;
  if (!cluster) return new Redis(url, options);
  const { enableOfflineQueue, ...nodeOptions } = options;
  const seed = new URL(url);
  return new Cluster([{ host: seed.hostname.replace(/^\[|\]$/g, ''), port: Number(seed.port || 6379) }], {
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    redisOptions: {
      ...nodeOptions,
      ...(seed.username ? { username: decodeURIComponent(seed.username) } : {}),
      ...(seed.password ? { password: decodeURIComponent(seed.password) } : {}),
      ...(seed.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  });
}

/**
 * The key prefix BullMQ is given for a queue. Its Lua scripts touch several keys of the queue at
 * once, which a cluster allows only within one hash slot: there the prefix is a hash tag of
 * QUEUE_PREFIX and the queue's name, so each queue's keys share a slot and the queues spread over
 * the nodes. A single server keeps QUEUE_PREFIX as it is.
 */
export function queueKeyPrefix(server: RedisServer | string, prefix: string, queueName: string): string {
  return typeof server !== 'string' && server.cluster ? `{${prefix}:${queueName}}` : prefix;
}
