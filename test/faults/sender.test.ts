import { describe, expect, it } from 'vitest';
import { SENDER_FAULT_MAX_DELAY_MS, senderFaultRetryDelayMs } from '../../src/platform/mail/senderFault.js';
import { outboxRowOf } from '../support/outbox.js';
import { canary } from '../support/canary.js';
import { postJson, waitFor } from '../support/http.js';
import { startTestService, type TestService } from '../support/service.js';
import { startSmtpSink, type SmtpSinkOptions, type SmtpVerdict } from '../support/smtpSink.js';

const LOGIN = { user: 'optin', pass: 'right-password' };
const EMAILS = ['held1@example.com', 'held2@example.com', 'held3@example.com'];
// Fewer than the attempts each message makes while held: a held message has no attempt limit.
const SEND_ATTEMPTS = 2;

const outboxRows = async (t: TestService) => await t.service.database.db.select().from(t.service.database.tables.outbox);
const suppressionRows = async (t: TestService) => await t.service.database.db.select().from(t.service.database.tables.suppressions);
const metricsText = async (t: TestService) => (await fetch(`${t.url}/metrics`)).text();
const readyz = async (t: TestService) => {
  const res = await fetch(`${t.url}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as { status: string; checks: Record<string, boolean>; senderFault?: { kind: string; since: string } },
  };
};

/**
 * The operator's SMTP setup refuses every message (`refuse` turns the refusal on and off): nothing
 * is suppressed, no row fails, /readyz and /metrics say so, and once the refusal stops every
 * message is delivered exactly once.
 */
async function heldUntilFixed(kind: string, refusingServer: (refusing: () => boolean) => SmtpSinkOptions): Promise<void> {
  let refusing = true;
  const sink = await startSmtpSink(refusingServer(() => refusing));
  const t = await startTestService({ sink, env: { SEND_ATTEMPTS: String(SEND_ATTEMPTS), SEND_BACKOFF_MS: '50' } });
  try {
    for (const email of EMAILS) expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
    await waitFor(
      async () =>
        (await Promise.all(EMAILS.map((email) => outboxRowOf(t.service.database, email)))).every((row, i) => {
          if (row && row.status !== 'queued') throw new Error(`${EMAILS[i]} left the queue as ${row.status}: ${row.lastError}`);
          return (row?.attempts ?? 0) > SEND_ATTEMPTS;
        }),
      10_000,
      'more attempts per message than SEND_ATTEMPTS',
    );
    for (const email of EMAILS) {
      const row = (await outboxRowOf(t.service.database, email))!;
      expect(row.status).toBe('queued');
      expect(row.lastError).toBeTruthy();
    }
    expect(await suppressionRows(t)).toEqual([]);
    expect(sink.messages).toHaveLength(0);

    const degraded = await readyz(t);
    expect(degraded.status).toBe(200);
    expect(degraded.body).toMatchObject({ status: 'degraded', checks: { database: true, redis: true }, senderFault: { kind } });
    expect(Date.parse(degraded.body.senderFault!.since)).toBeGreaterThan(0);
    const during = await metricsText(t);
    expect(during).toContain(`optin_sender_fault{kind="${kind}"} 1`);
    expect(during).toMatch(new RegExp(`optin_sender_faults_total\\{kind="${kind}"\\} [1-9]`));
    expect(during).not.toMatch(/optin_sends_total\{outcome="(failed|bounced)"\}/);

    refusing = false;
    for (const email of EMAILS) await waitFor(() => sink.to(email)[0], 15_000, `the held message to ${email}`);
    await waitFor(async () => (await readyz(t)).body.status === 'ready', 5000, '/readyz to be ready again');
    await canary(t);
    for (const email of EMAILS) {
      expect(sink.to(email)).toHaveLength(1);
      expect((await outboxRowOf(t.service.database, email))?.status).toBe('sent');
    }
    expect((await outboxRows(t)).every((row) => row.status === 'sent')).toBe(true);
    expect(await suppressionRows(t)).toEqual([]);
    expect(await metricsText(t)).toContain(`optin_sender_fault{kind="${kind}"} 0`);
    expect((await readyz(t)).body).toEqual({ status: 'ready', checks: { database: true, redis: true } });
  } finally {
    await t.stop();
    await sink.close();
  }
}

const refusedWhile = (refusing: () => boolean, verdict: NonNullable<SmtpVerdict>): SmtpVerdict => (refusing() ? verdict : undefined);

describe("a fault of the sender's setup is never the recipient's bounce", () => {
  it('a refused login (535 at AUTH) holds every message, suppresses no one, and sends each once the login works', async () => {
    await heldUntilFixed('auth', (refusing) => ({
      login: LOGIN,
      onAuth: () => refusedWhile(refusing, { code: 535, message: '5.7.8 Authentication credentials invalid' }),
    }));
  });

  it('a refused sender (5xx at MAIL FROM) holds every message the same way', async () => {
    await heldUntilFixed('sender', (refusing) => ({
      onMailFrom: () => refusedWhile(refusing, { code: 553, message: '5.7.1 Sender address rejected: not owned by user' }),
    }));
  });

  it('a relay refusing to relay (554 5.7.1 at RCPT TO) is the operator’s, not the recipient’s', async () => {
    await heldUntilFixed('relay', (refusing) => ({
      onRcpt: () => refusedWhile(refusing, { code: 554, message: '5.7.1 Relay access denied' }),
    }));
  });

  it('a refusal after DATA that names the sender’s own authentication (5.7.26, DMARC) suppresses no one', async () => {
    await heldUntilFixed('sender', (refusing) => ({
      onData: () =>
        refusedWhile(refusing, { code: 550, message: '5.7.26 This mail is unauthenticated: the sender domain does not pass DMARC' }),
    }));
  });

  it('still suppresses a mailbox the server refuses at RCPT TO, and /readyz stays ready', async () => {
    const sink = await startSmtpSink({
      onRcpt: (address) => (address === 'gone@example.com' ? { code: 550, message: '5.1.1 No such user' } : undefined),
    });
    const t = await startTestService({ sink });
    try {
      await postJson(`${t.url}/subscribe`, { email: 'gone@example.com' });
      await postJson(`${t.url}/subscribe`, { email: 'here@example.com' });
      await waitFor(
        async () => (await outboxRowOf(t.service.database, 'gone@example.com'))?.status === 'failed',
        5000,
        'the refused message to fail',
      );
      await waitFor(() => sink.to('here@example.com')[0], 5000, 'the other message');
      expect((await suppressionRows(t)).map((s) => s.reason)).toEqual(['bounced']);
      expect((await readyz(t)).body.status).toBe('ready');
    } finally {
      await t.stop();
      await sink.close();
    }
  });

  it('retries a held message after SEND_BACKOFF_MS, doubling, never more than 5 minutes apart', () => {
    expect([1, 2, 3, 4].map((faults) => senderFaultRetryDelayMs(faults, 5000))).toEqual([5000, 10_000, 20_000, 40_000]);
    expect(senderFaultRetryDelayMs(7, 5000)).toBe(SENDER_FAULT_MAX_DELAY_MS);
    expect(senderFaultRetryDelayMs(10_000, 5000)).toBe(SENDER_FAULT_MAX_DELAY_MS);
    expect(SENDER_FAULT_MAX_DELAY_MS).toBe(5 * 60_000);
  });
});
