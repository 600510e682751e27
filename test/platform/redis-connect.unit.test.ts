import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { connectRedis, queueKeyPrefix } from '../../src/platform/queue/redis.js';

describe('connectRedis', () => {
  it('opens a single server for a bare URL or REDIS_CLUSTER unset, with the options as given', () => {
    for (const server of ['redis://127.0.0.1:1', { url: 'redis://127.0.0.1:1', cluster: false }]) {
      const client = connectRedis(server, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
      expect(client).toBeInstanceOf(Redis);
      expect(client.options).toMatchObject({ port: 1, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      client.disconnect();
    }
  });

  it("on a cluster, gives every node the seed's credentials and TLS, and keeps the offline queue the cluster's", () => {
    const client = connectRedis(
      { url: 'rediss://app:p%40ss@127.0.0.1:1', cluster: true },
      { enableOfflineQueue: false, maxRetriesPerRequest: 1 },
    ) as Cluster;
    client.on('error', () => {});
    try {
      expect(client).toBeInstanceOf(Cluster);
      expect(client.options.enableOfflineQueue).toBe(false);
      expect(client.options.redisOptions).toEqual({ maxRetriesPerRequest: 1, username: 'app', password: 'p@ss', tls: {} });
    } finally {
      client.disconnect();
    }
  });
});

describe('queueKeyPrefix', () => {
  it("is QUEUE_PREFIX on a single server, and a hash tag of it and the queue's name on a cluster", () => {
    expect(queueKeyPrefix('redis://127.0.0.1:6379', 'optin', 'mail')).toBe('optin');
    expect(queueKeyPrefix({ url: 'redis://127.0.0.1:6379', cluster: false }, 'optin', 'mail')).toBe('optin');
    expect(queueKeyPrefix({ url: 'redis://127.0.0.1:7000', cluster: true }, 'optin', 'mail')).toBe('{optin:mail}');
  });
});
