import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { and, eq, inArray } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as schema from '../../src/db/schema.js';
import { addressHashes } from '../../src/subscriptions/suppression.js';
import { linkIn, postJson, tokenOf, waitFor } from '../support/http.js';
import { freePort, startServiceProcess, type RunningProcess } from '../support/processes.js';
import { deleteRedisKeys, REDIS_URL, TEST_SECRET } from '../support/service.js';
import { startSmtpSink, type SmtpSink } from '../support/smtpSink.js';

/**
 * The README's scale-out: `npm start` (API and worker) and `npm start -- api` on one SQLite file.
 * Signups keep arriving through the first while people confirm, unsubscribe and resubscribe
 * through the second: not one of those may fail, since an opt-out that fails is an opt-out lost.
 */
const PEOPLE = 100;
const LANES = 8;

let sink: SmtpSink;
let dataDir: string;
let prefix: string;
let full: RunningProcess & { url: string };
let apiOnly: RunningProcess & { url: string };
let reader: Database.Database;
const db = () => drizzle(reader, { schema });

beforeAll(async () => {
  sink = await startSmtpSink();
  dataDir = mkdtempSync(path.join(tmpdir(), 'optin-concurrent-'));
  prefix = `test-${randomUUID()}`;
  const env = {
    HOST: '127.0.0.1',
    DATABASE_PATH: path.join(dataDir, 'optin.db'),
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    SMTP_URL: sink.url,
    MAIL_FROM: 'optin test <news@example.org>',
    SECRET: TEST_SECRET,
    PUBLIC_URL: 'http://optin.test',
    SEND_BACKOFF_MS: '200',
    RATE_LIMIT_PER_MINUTE: '0',
    CONFIRM_COOLDOWN: '0',
    CONFIRM_MAX: '0',
    LOG_LEVEL: 'warn',
  };
  // One after the other: both apply the migrations on start.
  full = await startServiceProcess({ ...env, PORT: String(await freePort()) });
  apiOnly = await startServiceProcess({ ...env, PORT: String(await freePort()) }, ['api']);
  reader = new Database(env.DATABASE_PATH, { readonly: true });
});

afterAll(async () => {
  reader?.close();
  for (const p of [apiOnly, full]) {
    if (!p) continue;
    p.kill('SIGKILL');
    await p.exited;
  }
  await sink?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (prefix) await deleteRedisKeys(`${prefix}:*`);
});

/** Runs one request per item, LANES at a time; returns the statuses that were not 2xx, with their bodies. */
async function inLanes<T>(items: readonly T[], request: (item: T) => Promise<Response>): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      const res = await request(item);
      const body = await res.text();
      if (res.status < 200 || res.status > 299) failures.push(`${res.status} ${body}`);
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  return failures;
}

/**
 * Keeps signing new addresses up through the full process (which also sends their mail) until
 * `during` settles; resolves with `during`'s value and the signups that were not answered 202.
 */
async function whileSigningUp<T>(tag: string, during: () => Promise<T>): Promise<{ result: T; signupFailures: string[]; signups: number }> {
  let done = false;
  let signups = 0;
  const signupFailures: string[] = [];
  const lane = async (laneNo: number) => {
    while (!done) {
      const res = await postJson(`${full.url}/subscribe`, { email: `bg-${tag}-${laneNo}-${signups++}@example.com` });
      if (res.status !== 202) signupFailures.push(`${res.status} ${await res.text()}`);
      else await res.arrayBuffer();
    }
  };
  const lanes = Array.from({ length: 4 }, (_, i) => lane(i));
  try {
    return { result: await during(), signupFailures, signups };
  } finally {
    done = true;
    await Promise.all(lanes);
  }
}

const json = { accept: 'application/json' };
const statusesOf = (emails: string[]) =>
  db()
    .select({ email: schema.contacts.email, status: schema.subscriptions.status })
    .from(schema.subscriptions)
    .innerJoin(schema.contacts, eq(schema.contacts.id, schema.subscriptions.contactId))
    .where(inArray(schema.contacts.email, emails))
    .all();
const unsubscribeEntriesOf = (email: string) =>
  db()
    .select({ id: schema.suppressions.id })
    .from(schema.suppressions)
    .where(and(inArray(schema.suppressions.emailHash, addressHashes([TEST_SECRET], email)), eq(schema.suppressions.reason, 'unsubscribed')))
    .all();

describe('two processes writing to one database', () => {
  it('confirms, unsubscribes and resubscribes through one API while the other takes signups: every request succeeds', async () => {
    const people = Array.from({ length: PEOPLE }, (_, i) => `person-${i}@example.com`);
    expect(await inLanes(people, (email) => postJson(`${full.url}/subscribe`, { email }))).toEqual([]);
    const confirmations = await Promise.all(people.map((email) => waitFor(() => sink.to(email)[0], 30_000, `confirmation to ${email}`)));
    const confirmTokens = confirmations.map((mail) => tokenOf(linkIn(mail, 'confirm')));
    const unsubscribeTokens = confirmations.map((mail) => tokenOf(linkIn(mail, 'unsubscribe')));

    const confirming = await whileSigningUp('confirm', () => inLanes(confirmTokens, (token) => postJson(`${apiOnly.url}/confirm`, { token }, json)));
    expect.soft(confirming.result).toEqual([]);
    expect.soft(statusesOf(people).filter((s) => s.status !== 'confirmed')).toEqual([]);
    // Each confirmation wrote its welcome email with it (waited for here: an unsubscribe would drop it).
    for (const email of people) await waitFor(() => sink.to(email).length >= 2, 30_000, `welcome to ${email}`);

    const unsubscribing = await whileSigningUp('unsubscribe', () =>
      inLanes(unsubscribeTokens, (token) => postJson(`${apiOnly.url}/unsubscribe?token=${token}`, {}, json)),
    );
    expect.soft(unsubscribing.result).toEqual([]);
    expect.soft(statusesOf(people).filter((s) => s.status !== 'unsubscribed')).toEqual([]);
    expect.soft(people.filter((email) => unsubscribeEntriesOf(email).length !== 1)).toEqual([]);

    const resubscribing = await whileSigningUp('resubscribe', () =>
      inLanes(unsubscribeTokens, (token) => postJson(`${apiOnly.url}/resubscribe?token=${token}`, {}, json)),
    );
    expect.soft(resubscribing.result).toEqual([]);
    expect.soft(statusesOf(people).filter((s) => s.status !== 'confirmed')).toEqual([]);
    expect.soft(people.filter((email) => unsubscribeEntriesOf(email).length !== 0)).toEqual([]);

    // The signups kept coming the whole time, and none of them failed either.
    for (const phase of [confirming, unsubscribing, resubscribing]) {
      expect(phase.signupFailures).toEqual([]);
      expect(phase.signups).toBeGreaterThan(0);
    }
  });
});
