import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcastApi, progressOf, seedConfirmedList } from '../support/broadcasts.js';
import { canary } from '../support/canary.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { startRedisCluster, type RedisCluster } from '../support/processes.js';
import { ADMIN_AUTH, consoleCookie, REDIS_URL, startTestService, type TestService } from '../support/service.js';

/**
 * REDIS_CLUSTER=true (docs/deployment.md, "Redis Cluster"): the whole path of a subscriber runs
 * through a three-node Redis Cluster, and the queues' keys and the limiters' counters are on it.
 */
const SIGNUPS_PER_MINUTE = 50;
const ADMIN_FAILURES = 2;

let cluster: RedisCluster;
let t: TestService;
/** One plain connection per node, to look at what each node holds. */
let nodes: Redis[] = [];
/** POSTs to /subscribe so far (a canary's too): each is counted by the per-IP limiter. */
let signups = 0;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  nodes = cluster.ports.map((port) => new Redis(port, '127.0.0.1'));
  t = await startTestService({
    env: {
      REDIS_CLUSTER: 'true',
      REDIS_URL: cluster.url,
      RATE_LIMIT_PER_MINUTE: String(SIGNUPS_PER_MINUTE),
      ADMIN_AUTH_FAILURES_PER_15M: String(ADMIN_FAILURES),
    },
  });
}, 90_000);
afterAll(async () => {
  await t?.stop();
  for (const node of nodes) node.disconnect();
  await cluster?.stop();
});

const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;
const subscribe = async (body: Record<string, unknown>) => {
  signups++;
  return postJson(`${t.url}/subscribe`, body);
};
const countedCanary = async () => {
  signups++;
  await canary(t);
};

/** Every key on every node whose name contains the test's QUEUE_PREFIX, with the node that holds it. */
async function keysOnCluster(): Promise<{ key: string; node: number }[]> {
  const found: { key: string; node: number }[] = [];
  for (const [node, client] of nodes.entries()) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `*${t.config.queuePrefix}*`, 'COUNT', 1000);
      found.push(...keys.map((key) => ({ key, node })));
      cursor = next;
    } while (cursor !== '0');
  }
  return found;
}

describe('on a Redis Cluster (REDIS_CLUSTER=true)', () => {
  it('runs signup → confirmation → confirm → welcome → one-click, and mails no more: not the signup again, not a broadcast', async () => {
    const { emails: stayers } = await seedConfirmedList(t.service.database, 'cluster-news', 2);
    const email = 'clustered@example.com';

    expect((await subscribe({ email, list: 'cluster-news' })).status).toBe(202);
    const confirmation = await waitFor(() => t.smtp.to(email)[0], 10_000, 'confirmation email');
    expect((await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) })).status).toBe(200);
    const welcome = await waitFor(() => t.smtp.to(email)[1], 10_000, 'welcome email');
    expect(welcome.parsed.subject).toContain('Welcome');

    // RFC 8058: the mail client POSTs to the List-Unsubscribe URL.
    const unsubscribeUrl = welcome.header('list-unsubscribe')!.slice(1, -1);
    expect(welcome.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const left = await oneClick(local(unsubscribeUrl));
    expect(left.status).toBe(200);
    expect(await left.text()).toContain('You are unsubscribed');

    // Signing up again answers as always and sends nothing.
    expect((await subscribe({ email, list: 'cluster-news' })).status).toBe(202);
    await countedCanary();
    expect(t.smtp.to(email)).toHaveLength(2);

    // A broadcast to the list goes through the paced broadcast queue to the others only.
    const created = await broadcastApi(t.url, '', { list: 'cluster-news', subject: 'Cluster news', body: 'Hello.', format: 'markdown' });
    expect(created.status).toBe(201);
    const id = created.body.id as number;
    expect((await broadcastApi(t.url, `/${id}/send`)).body.status).toBe('sending');
    const done = await waitFor(
      async () => {
        const progress = await progressOf(t.url, id);
        return progress.status === 'sent' && progress;
      },
      30_000,
      'the broadcast to finish',
    );
    expect(done).toMatchObject({ total: 2, sent: 2, failed: 0 });
    for (const stayer of stayers) expect(t.smtp.to(stayer).map((m) => m.parsed.subject)).toEqual(['Cluster news']);
    await countedCanary();
    expect(t.smtp.to(email)).toHaveLength(2);
  });

  it("keeps each queue's keys in one hash slot of the cluster, under a hash tag, and none on a single server", async () => {
    const keys = await keysOnCluster();
    const slots = new Map<string, Set<number>>();
    for (const { key } of keys.filter(({ key }) => key.startsWith('{'))) {
      const queue = /^\{[^}]+:([a-z]+)\}:\1:/.exec(key)?.[1];
      expect(queue, `${key} is a queue's key under {QUEUE_PREFIX:queue}`).toBeDefined();
      const slot = Number(await nodes[0]!.cluster('KEYSLOT', key));
      slots.set(queue!, (slots.get(queue!) ?? new Set()).add(slot));
    }
    // The mail and broadcast queues took jobs; the webhook queue has at least its own keys.
    expect([...slots.keys()].sort()).toEqual(expect.arrayContaining(['broadcast', 'mail']));
    for (const [queue, slotsOfQueue] of slots) expect([queue, slotsOfQueue.size]).toEqual([queue, 1]);
    const prefix = t.config.queuePrefix;
    expect(keys.filter(({ key }) => key.startsWith(`{${prefix}:mail}:mail:`)).length).toBeGreaterThan(0);

    // Nothing went to the single server the other tests use.
    const single = new Redis(REDIS_URL);
    try {
      expect(await single.keys(`*${prefix}*`)).toEqual([]);
    } finally {
      single.disconnect();
    }
  });

  it('answers /readyz, the console and the queue dashboard from the cluster', async () => {
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: true, redis: true } });

    const cookie = await consoleCookie(t.url);
    const front = await fetch(`${t.url}/admin`, { headers: { cookie, accept: 'text/html' } });
    expect(front.status).toBe(200);
    expect(await front.text()).toContain('Mail is flowing.');
    const dashboard = await fetch(`${t.url}/admin/queues/api/queues?activeQueue=mail&status=latest&page=1&jobsPerPage=10`, {
      headers: ADMIN_AUTH,
    });
    expect(dashboard.status).toBe(200);
    const body = (await dashboard.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name)).toEqual(['mail']);
  });

  it('counts signups per IP and failed admin sign-ins in the cluster, and refuses over the limit', async () => {
    // The window is a minute: a signup now makes sure the counter has not ended since the first.
    expect((await subscribe({ email: 'counted@example.com' })).status).toBe(202);
    const signupCounters = (await keysOnCluster()).filter(({ key }) => key.startsWith(`${t.config.queuePrefix}:ratelimit:ip:`));
    expect(signupCounters).toHaveLength(1);
    const counted = Number(await nodes[signupCounters[0]!.node]!.get(signupCounters[0]!.key));
    expect(counted).toBeGreaterThanOrEqual(1);
    expect(counted).toBeLessThanOrEqual(signups);

    const wrong = { authorization: 'Bearer not-the-admin-token-at-all' };
    for (let i = 0; i < ADMIN_FAILURES; i++) expect((await fetch(`${t.url}/admin/api/broadcasts`, { headers: wrong })).status).toBe(401);
    // Over the limit even the right token is refused until the window ends.
    const refused = await fetch(`${t.url}/admin/api/broadcasts`, { headers: ADMIN_AUTH });
    expect(refused.status).toBe(429);
    const adminCounters = (await keysOnCluster()).filter(({ key }) => key.startsWith(`${t.config.queuePrefix}:adminauth:ip:`));
    expect(adminCounters).toHaveLength(1);
    expect(Number(await nodes[adminCounters[0]!.node]!.get(adminCounters[0]!.key))).toBe(ADMIN_FAILURES);
  });
});
