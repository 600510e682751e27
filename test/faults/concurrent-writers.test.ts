import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import { addressHashes } from '../../src/features/policy/suppressions.js';
import { linkIn, postJson, tokenOf, waitFor } from '../support/http.js';
import { freePort, startServiceProcess, type RunningProcess } from '../support/processes.js';
import { dropFolderDatabase, TEST_ON_POSTGRES } from '../support/postgres.js';
import { deleteRedisKeys, openTestDatabase, TEST_SECRET, testServiceEnv } from '../support/service.js';
import { startSmtpSink, type SmtpSink } from '../support/smtpSink.js';

/**
 * The README's scale-out: `npm start` (API and worker) and `npm start -- api` on one database
 * (one SQLite file; in the `postgres` project, one PostgreSQL database).
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
/** The test's own connection to the processes' database, for reads. */
let reader: Database;

beforeAll(async () => {
  sink = await startSmtpSink();
  dataDir = mkdtempSync(path.join(tmpdir(), 'optin-concurrent-'));
  prefix = `test-${randomUUID()}`;
  const env = {
    ...testServiceEnv({ queuePrefix: prefix, smtpUrl: sink.url }),
    DATABASE_PATH: path.join(dataDir, 'optin.db'),
    CONFIRM_COOLDOWN: '0',
    CONFIRM_MAX: '0',
    LOG_LEVEL: 'warn',
  };
  // One after the other: both apply the migrations on start.
  full = await startServiceProcess({ ...env, PORT: String(await freePort()) });
  apiOnly = await startServiceProcess({ ...env, PORT: String(await freePort()) }, ['api']);
  reader = await openTestDatabase(dataDir);
});

afterAll(async () => {
  await reader?.close();
  for (const p of [apiOnly, full]) {
    if (!p) continue;
    p.kill('SIGKILL');
    await p.exited;
  }
  await sink?.close();
  if (dataDir && TEST_ON_POSTGRES) await dropFolderDatabase(dataDir);
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
const statusesOf = async (emails: string[]) => {
  const { contacts, subscriptions } = reader.tables;
  return await reader.db
    .select({ email: contacts.email, status: subscriptions.status })
    .from(subscriptions)
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .where(inArray(contacts.email, emails));
};
/** The addresses whose count of unsubscribe entries is not `expected`. */
const withUnsubscribeEntriesOtherThan = async (emails: string[], expected: number) => {
  const { suppressions } = reader.tables;
  const counts = await Promise.all(
    emails.map(async (email) => {
      const entries = await reader.db
        .select({ id: suppressions.id })
        .from(suppressions)
        .where(and(inArray(suppressions.emailHash, addressHashes([TEST_SECRET], email)), eq(suppressions.reason, 'unsubscribed')));
      return entries.length;
    }),
  );
  return emails.filter((_, i) => counts[i] !== expected);
};

describe('two processes writing to one database', () => {
  it('confirms, unsubscribes and resubscribes through one API while the other takes signups: every request succeeds', async () => {
    const people = Array.from({ length: PEOPLE }, (_, i) => `person-${i}@example.com`);
    expect(await inLanes(people, (email) => postJson(`${full.url}/subscribe`, { email }))).toEqual([]);
    const confirmations = await Promise.all(people.map((email) => waitFor(() => sink.to(email)[0], 30_000, `confirmation to ${email}`)));
    const confirmTokens = confirmations.map((mail) => tokenOf(linkIn(mail, 'confirm')));
    const unsubscribeTokens = confirmations.map((mail) => tokenOf(linkIn(mail, 'unsubscribe')));

    const confirming = await whileSigningUp('confirm', () =>
      inLanes(confirmTokens, (token) => postJson(`${apiOnly.url}/confirm`, { token }, json)),
    );
    expect.soft(confirming.result).toEqual([]);
    expect.soft((await statusesOf(people)).filter((s) => s.status !== 'confirmed')).toEqual([]);
    // Each confirmation wrote its welcome email with it (waited for here: an unsubscribe would drop it).
    for (const email of people) await waitFor(() => sink.to(email).length >= 2, 30_000, `welcome to ${email}`);

    const unsubscribing = await whileSigningUp('unsubscribe', () =>
      inLanes(unsubscribeTokens, (token) => postJson(`${apiOnly.url}/unsubscribe?token=${token}`, {}, json)),
    );
    expect.soft(unsubscribing.result).toEqual([]);
    expect.soft((await statusesOf(people)).filter((s) => s.status !== 'unsubscribed')).toEqual([]);
    expect.soft(await withUnsubscribeEntriesOtherThan(people, 1)).toEqual([]);

    const resubscribing = await whileSigningUp('resubscribe', () =>
      inLanes(unsubscribeTokens, (token) => postJson(`${apiOnly.url}/resubscribe?token=${token}`, {}, json)),
    );
    expect.soft(resubscribing.result).toEqual([]);
    expect.soft((await statusesOf(people)).filter((s) => s.status !== 'confirmed')).toEqual([]);
    expect.soft(await withUnsubscribeEntriesOtherThan(people, 0)).toEqual([]);

    // The signups kept coming the whole time, and none of them failed either.
    for (const phase of [confirming, unsubscribing, resubscribing]) {
      expect(phase.signupFailures).toEqual([]);
      expect(phase.signups).toBeGreaterThan(0);
    }
  });
});
