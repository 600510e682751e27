import { randomUUID } from 'node:crypto';
import { and, count, eq, gt, ne } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabaseFromConfig, type Database } from '../../src/platform/db/database.js';
import { createMailQueue, type MailQueue } from '../../src/platform/queue/queues.js';
import { oneClick, postJson, waitFor } from '../support/http.js';
import { createScratchDatabase, TEST_ON_POSTGRES, type ScratchDatabase } from '../support/postgres.js';
import { freePort, runAdminCli, startServiceProcess, startWorkerProcess, type RunningProcess } from '../support/processes.js';
import { deleteRedisKeys, REDIS_URL, testServiceEnv } from '../support/service.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../support/smtpSink.js';

/**
 * docs/deployment.md, run: `npm run admin -- db migrate` once, then 2 × `npm start -- api` and
 * 2 × `npm start -- worker` on one PostgreSQL database, one Redis queue prefix, one SMTP server
 * (here in the test process). 1,000 signups spread over both APIs, part of them one address sent
 * to both APIs at once; one-click opt-outs through one API while the other takes signups; a
 * worker killed with SIGKILL in the middle. (`npm start -- api` builds, then runs dist/main.js api;
 * the processes here run src/main.ts through tsx: the same entry point, roles and environment.)
 */
const LEAVERS = 100; // signed up first; opt out with one click during the burst
const SINGLES = 300; // signed up once, through one API or the other
const CONTESTED = 100; // signed up SIGNUPS_PER_CONTESTED times at once, half through each API
const SIGNUPS_PER_CONTESTED = 6;
const CONFIRM_MAX = 3;
const IN_FLIGHT = 32;
const OPT_OUT_LANES = 4;
/** Jobs a worker holds at once (WORKER_CONCURRENCY's default): the most a killed one can leave half-done. */
const WORKER_CONCURRENCY = 20;

let sink: SmtpSink;
let scratch: ScratchDatabase;
let prefix: string;
/** The environment of every process: the one docs/deployment.md gives, with this machine's values. */
let env: Record<string, string>;
const apis: (RunningProcess & { url: string })[] = [];
const workers: RunningProcess[] = [];
/** The test's own connection to the processes' database, for reads. */
let reader: Database;
/** The processes' mail queue, to hold it back for a while (as an operator can: Queue.pause). */
let mailQueue: MailQueue;
/** DATA the sink has received (answered or not): minus the accepted messages, the sends in flight. */
let dataReceived = 0;

describe.skipIf(!TEST_ON_POSTGRES)('2 API and 2 worker processes on one PostgreSQL database', () => {
  beforeAll(async () => {
    // A short pause before each answer to DATA (a real server's write to its queue) keeps sends
    // in flight when the worker is killed.
    sink = await startSmtpSink({ dataDelayMs: 20, onData: () => void dataReceived++ });
    scratch = await createScratchDatabase('optin_multi_process');
    prefix = `test-${randomUUID()}`;
    env = {
      NODE_ENV: 'production',
      DATABASE_URL: scratch.url,
      DATABASE_POOL_MAX: '5',
      DATABASE_STATEMENT_TIMEOUT_MS: '30000',
      MIGRATE_ON_START: 'false',
      // Every signup comes from 127.0.0.1: testServiceEnv turns the per-IP limit off.
      ...testServiceEnv({ queuePrefix: prefix, smtpUrl: sink.url }),
      // Production, as deployed: its links must be https (the test reads them on its own origin anyway).
      PUBLIC_URL: 'https://optin.test',
      // The caps matter: an address gets at most CONFIRM_MAX confirmations, however many signups.
      CONFIRM_COOLDOWN: '0',
      CONFIRM_MAX: String(CONFIRM_MAX),
      // A killed worker's jobs are taken over after this, instead of the default 30 s.
      SEND_LOCK_MS: '2000',
      LOG_LEVEL: 'info',
    };
    // The deploy step, before any process starts (they refuse to start on a database behind).
    const migrated = await runAdminCli(['db', 'migrate'], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    // One after the other: starting (loading the code) takes most of a core for a few seconds.
    for (let i = 0; i < 2; i++) apis.push(await startServiceProcess({ ...env, PORT: String(await freePort()) }, ['api']));
    for (let i = 0; i < 2; i++) workers.push(await startWorkerProcess(env));
    reader = await openDatabaseFromConfig(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
    mailQueue = createMailQueue(REDIS_URL, prefix, { attempts: 6, backoffMs: 200 });
  }, 120_000);

  afterAll(async () => {
    await reader?.close();
    await mailQueue?.close();
    for (const p of [...apis, ...workers]) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await sink?.close();
    await scratch?.drop();
    if (prefix) await deleteRedisKeys(`${prefix}:*`);
  });

  it('every signup is mailed once within the caps, every one-click opt-out succeeds, a killed worker loses nothing', async () => {
    const [apiA, apiB] = apis as [RunningProcess & { url: string }, RunningProcess & { url: string }];
    const [doomedWorker] = workers as [RunningProcess];
    // What the processes complained about, when something went wrong.
    onTestFailed(() => {
      for (const [i, p] of [...apis, ...workers].entries()) {
        const complaints = p
          .output()
          .split('\n')
          .filter((line) => /"level":[456]\d/.test(line) && !line.includes('DKIM is not configured'));
        if (complaints.length > 0) console.error(`process ${i}:\n${complaints.slice(-20).join('\n')}`);
      }
    });
    const statuses = new Map<number, number>();
    const signUp = async (url: string, email: string) => {
      const res = await postJson(`${url}/subscribe`, { email });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      return res.status;
    };
    const limit = limiter(IN_FLIGHT);

    const testStarted = Date.now();
    // 1. The leavers sign up (half through each API) and get their confirmation.
    const leavers = Array.from({ length: LEAVERS }, (_, i) => `leaver-${i}@example.com`);
    await Promise.all(leavers.map((email, i) => limit(1, () => signUp(apis[i % 2]!.url, email))));
    const confirmations = await Promise.all(leavers.map((email) => waitFor(() => sink.to(email)[0], 60_000, `confirmation to ${email}`)));

    // 2. The burst: singles alternate between the APIs; a contested address is sent to both at once,
    // half of the signups under another spelling of it (one address key, one set of caps).
    const singles = Array.from({ length: SINGLES }, (_, i) => `single-${i}@example.com`);
    const contested = Array.from({ length: CONTESTED }, (_, i) => `contested-${i}@example.com`);
    let answered = 0;
    const burstTasks: (() => Promise<unknown>)[] = [];
    for (let i = 0, s = 0, c = 0; i < SINGLES + CONTESTED; i++) {
      if (i % 4 === 3 && c < CONTESTED) {
        const email = contested[c++]!;
        burstTasks.push(() =>
          limit(SIGNUPS_PER_CONTESTED, () =>
            Promise.all(
              Array.from({ length: SIGNUPS_PER_CONTESTED }, (_, k) =>
                signUp(k % 2 === 0 ? apiA.url : apiB.url, k % 4 < 2 ? email : email.toUpperCase()).then(() => answered++),
              ),
            ),
          ),
        );
      } else {
        const email = singles[s++]!;
        burstTasks.push(() => limit(1, () => signUp(i % 2 === 0 ? apiA.url : apiB.url, email).then(() => answered++)));
      }
    }
    const burstSignups = SINGLES + CONTESTED * SIGNUPS_PER_CONTESTED;

    // The queue is held for the first third of the burst: then both workers take a full hand of
    // jobs at once (WORKER_CONCURRENCY each), whatever the speed of this machine. Once more rows
    // are in hand (attempt counted, not yet marked sent) than one worker can hold, both hold some;
    // when a send is at the SMTP server too: SIGKILL one worker.
    const { outbox } = reader.tables;
    await mailQueue.queue.pause();
    const killed = (async () => {
      await waitFor(() => answered >= burstSignups / 3, 120_000, 'a third of the burst');
      await mailQueue.queue.resume();
      const inHand = async () =>
        (
          await reader.db
            .select({ n: count() })
            .from(outbox)
            .where(and(eq(outbox.status, 'queued'), gt(outbox.attempts, 0)))
        )[0]!.n;
      await waitFor(
        async () => dataReceived > sink.messages.length && (await inHand()) > WORKER_CONCURRENCY,
        60_000,
        'both workers sending',
      );
      const sentBefore = sink.messages.length;
      doomedWorker.kill('SIGKILL');
      return { sentBefore, answeredBefore: answered, exit: await doomedWorker.exited };
    })();

    // Meanwhile API B takes every leaver's one-click opt-out (the List-Unsubscribe URL, as a mail
    // client posts it), and API A their signup again right after: it must mail nothing.
    const optOutFailures: string[] = [];
    // Lanes of their own, beside the burst's (a place in its queue would put them before or after it).
    const optOuts = (async () => {
      await waitFor(() => answered > 0, 30_000, 'the burst to start');
      const answeredAtStart = answered;
      let next = 0;
      const lane = async () => {
        while (next < LEAVERS) {
          const i = next++;
          const res = await oneClick(onApi(listUnsubscribeUrl(confirmations[i]!), apiB.url));
          if (res.status !== 200) optOutFailures.push(`${res.status} ${await res.text()}`);
          else await res.arrayBuffer();
          await signUp(apiA.url, leavers[i]!);
        }
      };
      await Promise.all(Array.from({ length: OPT_OUT_LANES }, lane));
      return answered - answeredAtStart;
    })();

    const started = Date.now();
    const leaversMs = started - testStarted;
    await Promise.all(burstTasks.map((task) => task()));
    const burstMs = Date.now() - started;
    const signupsDuringOptOuts = await optOuts;
    const kill = await killed;

    // Every signup, opt-out and re-signup was answered as it should be.
    expect(statuses.get(202)).toBe(LEAVERS + burstSignups + LEAVERS);
    expect([...statuses.keys()]).toEqual([202]);
    expect(optOutFailures).toEqual([]);
    expect(signupsDuringOptOuts).toBeGreaterThan(0);
    expect(kill.exit).toBe('SIGKILL');

    // Nothing lost: every queued row ends sent (the survivor takes over the killed worker's jobs
    // after SEND_LOCK_MS), and nothing else is left queued, dropped or failed.
    const expectedRows = LEAVERS + SINGLES + CONTESTED * CONFIRM_MAX;
    await waitFor(
      async () => {
        const [rows] = await reader.db.select({ n: count() }).from(outbox);
        const [unsent] = await reader.db.select({ n: count() }).from(outbox).where(ne(outbox.status, 'sent'));
        return rows!.n === expectedRows && unsent!.n === 0;
      },
      90_000,
      `all ${expectedRows} outbox rows sent`,
    );
    const drainMs = Date.now() - started - burstMs;
    // Rows the killed worker had in hand (an attempt counted, no sent-mark), sent by the survivor.
    const [retaken] = await reader.db.select({ n: count() }).from(outbox).where(gt(outbox.attempts, 1));
    expect(retaken!.n).toBeGreaterThan(0);
    const [confirmationRows] = await reader.db.select({ n: count() }).from(outbox).where(eq(outbox.kind, 'confirmation'));
    expect(confirmationRows!.n).toBe(expectedRows);

    // At the SMTP server, by RCPT TO. A message is one Message-ID (derived from its outbox row, so a
    // resend carries the same one): each row reached its mailbox, and no address has more than the caps.
    const messagesTo = (email: string) => new Set(sink.to(email).map(messageId)).size;
    const wrongCount = (emails: string[], expected: number) =>
      emails.filter((email) => messagesTo(email) !== expected).map((email) => `${email}: ${messagesTo(email)}`);
    expect(wrongCount(singles, 1)).toEqual([]);
    expect(wrongCount(contested, CONFIRM_MAX)).toEqual([]);
    // An opted-out address is not mailed again, whatever it signs up for.
    expect(wrongCount(leavers, 1)).toEqual([]);
    expect(leavers.filter((email) => sink.to(email).length !== 1)).toEqual([]);
    expect(new Set(sink.messages.map(messageId)).size).toBe(expectedRows);

    // A second copy of one message can only come from the killed worker: one the SMTP server took
    // but whose sent-mark the worker did not live to write, sent again by the survivor. Fewer than
    // the jobs it had in hand; and each such copy is of a message already counted above.
    const copies = sink.messages.length - expectedRows;
    expect(copies).toBeLessThanOrEqual(WORKER_CONCURRENCY);
    const rawContested = Math.max(...contested.map((email) => sink.to(email).length));

    console.info(
      `multi-process: ${LEAVERS + burstSignups} signups (${LEAVERS} + ${SINGLES} singles + ${CONTESTED}×${SIGNUPS_PER_CONTESTED} contested) ` +
        `+ ${LEAVERS} opt-outs and ${LEAVERS} re-signups; leavers ${leaversMs} ms, burst ${burstMs} ms, all sent ${drainMs} ms later, ${signupsDuringOptOuts} signups answered during the opt-outs; ` +
        `worker killed after ${kill.answeredBefore} burst answers and ${kill.sentBefore} mails; ${retaken!.n} rows taken over; ` +
        `${sink.messages.length} deliveries of ${expectedRows} messages (${copies} resent copies), most to one contested address ${rawContested}`,
    );
    // Generous: on a quiet 2-core machine the whole file takes well under this; a loaded one is slower, not wrong.
  }, 180_000);
});

/** The http(s) URL of a received message's List-Unsubscribe header. */
function listUnsubscribeUrl(mail: ReceivedMail): string {
  const url = /<(https?:[^>]+)>/.exec(mail.header('list-unsubscribe') ?? '')?.[1];
  if (!url) throw new Error(`no List-Unsubscribe URL in "${mail.parsed.subject}"`);
  return url;
}

/** The same path and query on another origin (PUBLIC_URL is not where the test's API listens). */
function onApi(link: string, apiUrl: string): string {
  const url = new URL(link);
  return `${apiUrl}${url.pathname}${url.search}`;
}

function messageId(mail: ReceivedMail): string {
  return mail.parsed.messageId ?? mail.header('message-id') ?? '';
}

/** Runs tasks with at most `max` units in flight, first come first served; a task takes `weight` units. */
function limiter(max: number) {
  let free = max;
  const queue: { weight: number; start: () => void }[] = [];
  const admit = () => {
    while (queue.length > 0 && queue[0]!.weight <= free) {
      const next = queue.shift()!;
      free -= next.weight;
      next.start();
    }
  };
  return async <T>(weight: number, task: () => Promise<T>): Promise<T> => {
    await new Promise<void>((start) => {
      queue.push({ weight, start });
      admit();
    });
    try {
      return await task();
    } finally {
      free += weight;
      admit();
    }
  };
}
