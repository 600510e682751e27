import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canary } from '../support/canary.js';
import { postJson, waitFor } from '../support/http.js';
import { freePort, startServiceProcess, type RunningProcess } from '../support/processes.js';
import { deleteRedisKeys, openTestDatabase, testServiceEnv } from '../support/service.js';
import { startSmtpSink } from '../support/smtpSink.js';

const BURST = 200;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(dataDelayMs: number) {
  const counter = { dataReceived: 0 };
  const sink = await startSmtpSink({ dataDelayMs, onData: () => void counter.dataReceived++ });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'optin-fault-'));
  const prefix = `test-${randomUUID()}`;
  const env = {
    PORT: String(await freePort()),
    // The burst comes from one address: testServiceEnv turns the per-IP limit off.
    ...testServiceEnv({ queuePrefix: prefix, smtpUrl: sink.url }),
    DATABASE_PATH: path.join(dataDir, 'optin.db'),
    // A killed worker's jobs are taken over after this, instead of the default 30 s.
    SEND_LOCK_MS: '2000',
    LOG_LEVEL: 'info',
  };
  const processes: RunningProcess[] = [];
  cleanups.push(async () => {
    for (const p of processes) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await sink.close();
    rmSync(dataDir, { recursive: true, force: true });
    await deleteRedisKeys(`${prefix}:*`);
  });
  const start = async () => {
    const service = await startServiceProcess(env);
    processes.push(service);
    return service;
  };
  /** Messages whose DATA has arrived but that the server has not yet accepted. */
  const inFlight = () => counter.dataReceived - sink.messages.length;
  return { sink, start, inFlight, dataDir };
}

/**
 * Fires BURST signups, a few at a time, and interrupts the service once `interruptAfter` have been
 * accepted. Returns the addresses that got their 202 (the others failed to connect or lost their answer).
 */
async function burstWithInterruption(url: string, interruptAfter: number, interrupt: () => void): Promise<string[]> {
  const accepted: string[] = [];
  const emails = Array.from({ length: BURST }, (_, i) => `burst-${i}@example.com`);
  let next = 0;
  let interrupted = false;
  const lane = async () => {
    while (next < emails.length) {
      const email = emails[next++]!;
      const status = await postJson(`${url}/subscribe`, { email }).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 202) accepted.push(email);
      if (!interrupted && accepted.length >= interruptAfter) {
        interrupted = true;
        interrupt();
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return accepted;
}

describe('service process faults', () => {
  // Each starts, kills and restarts real service processes (tsx compiles at every start).
  it('SIGKILL mid-burst: after a restart every accepted signup is mailed', { timeout: 120_000 }, async () => {
    // Slow DATA answers make sure jobs are active when the process dies: they stall, and the
    // restarted worker must take them over once their lock (SEND_LOCK_MS) runs out.
    const { sink, start, inFlight } = await setup(150);
    const first = await start();
    const accepted = await burstWithInterruption(first.url, 80, () => {
      void waitFor(() => inFlight() > 0, 10_000, 'a send in flight').then(() => first.kill('SIGKILL'));
    });
    expect(await first.exited).toBe('SIGKILL');
    expect(accepted.length).toBeGreaterThanOrEqual(80);

    await start();
    for (const email of accepted) await waitFor(() => sink.to(email).length > 0, 20_000, `mail to ${email}`);
    const missing = accepted.filter((email) => sink.to(email).length === 0);
    expect(missing).toEqual([]);
  });

  it(
    'SIGTERM mid-burst: stops cleanly, finishes sends in hand; after a restart nothing is lost or doubled',
    { timeout: 120_000 },
    async () => {
      // Slow DATA answers keep sends in flight when the signal lands.
      const { sink, start, inFlight, dataDir } = await setup(150);
      const first = await start();
      const accepted = await burstWithInterruption(first.url, 80, () => {
        void waitFor(() => inFlight() > 0, 10_000, 'a send in flight').then(() => first.kill('SIGTERM'));
      });
      await first.exited;
      expect(sink.messages.length).toBeGreaterThan(0);
      // Exit status 0 means it finished before its own 9-second deadline (which exits with 1).
      expect(await first.exited).toBe(0);
      expect(first.output()).toContain('"msg":"shutting down"');

      const second = await start();
      for (const email of accepted) await waitFor(() => sink.to(email).length > 0, 20_000, `mail to ${email}`);
      // The service runs in its own process: the canary reads its outbox beside it.
      const database = await openTestDatabase(dataDir);
      try {
        await canary({ url: second.url, smtp: sink, database });
      } finally {
        await database.close();
      }
      const counts = new Map<string, number>();
      for (const message of sink.messages) for (const to of message.envelopeTo) counts.set(to, (counts.get(to) ?? 0) + 1);
      expect(accepted.filter((email) => !counts.has(email))).toEqual([]);
      expect([...counts].filter(([, n]) => n > 1)).toEqual([]);

      // Logs are JSON lines with request ids, and never carry a whole address.
      const lines = (first.output() + second.output()).split('\n').filter(Boolean);
      const requestLines = lines
        .map((line) => JSON.parse(line) as { req?: { id?: string; path?: string } })
        .filter((entry) => entry.req?.path === '/subscribe');
      expect(requestLines.length).toBeGreaterThan(0);
      expect(requestLines.every((entry) => typeof entry.req?.id === 'string')).toBe(true);
      expect(lines.filter((line) => /burst-\d+@/.test(line))).toEqual([]);
    },
  );
});
