import { describe, expect, it } from 'vitest';
import { listFailedMessages } from '../../src/features/delivery/outboxReport.js';
import { findSuppression } from '../../src/features/policy/suppressions.js';
import { outboxRowOf as outboxRowOfDb } from '../support/outbox.js';
import { canary } from '../support/canary.js';
import { postJson, waitFor } from '../support/http.js';
import { freePort } from '../support/processes.js';
import { startTestService, TEST_SECRET, type TestService } from '../support/service.js';
import { startSmtpSink } from '../support/smtpSink.js';

const outboxRowOf = (t: TestService, emailKey: string) => outboxRowOfDb(t.service.database, emailKey);
/** The outbox row of an address once it has reached `status`. */
const rowOnceIn = (t: TestService, emailKey: string, status: string) =>
  waitFor(
    async () => {
      const row = await outboxRowOf(t, emailKey);
      return row?.status === status ? row : undefined;
    },
    5000,
    `the outbox row of ${emailKey} to be ${status}`,
  );
const outboxRows = async (t: TestService) => await t.service.database.db.select().from(t.service.database.tables.outbox);
const suppressionRows = async (t: TestService) => await t.service.database.db.select().from(t.service.database.tables.suppressions);

const metricsText = async (t: TestService) => (await fetch(`${t.url}/metrics`)).text();

describe('SMTP faults', () => {
  it('retries a 451 with backoff and sends the message exactly once when the server accepts', async () => {
    let refusals = 0;
    const t = await startTestService({
      smtp: {
        onRcpt: (address) =>
          address === 'greylisted@example.com' && refusals++ < 2 ? { code: 451, message: '4.7.1 Greylisted, try again later' } : undefined,
      },
      env: { SEND_BACKOFF_MS: '100' },
    });
    try {
      expect((await postJson(`${t.url}/subscribe`, { email: 'greylisted@example.com' })).status).toBe(202);
      await waitFor(() => t.smtp.to('greylisted@example.com')[0], 10_000, 'the message after two refusals');
      const row = await rowOnceIn(t, 'greylisted@example.com', 'sent');
      expect(refusals).toBe(3);
      expect(row.attempts).toBe(3);
      // Read before the canary, whose own send would count.
      const metrics = await metricsText(t);
      await canary(t);
      expect(t.smtp.to('greylisted@example.com')).toHaveLength(1);
      expect(metrics).toMatch(/optin_sends_total\{outcome="retry"\} 2/);
      expect(metrics).toMatch(/optin_sends_total\{outcome="sent"\} 1/);
      expect(metrics).toMatch(/optin_send_duration_seconds_count\{outcome="sent"\} 1/);
    } finally {
      await t.stop();
    }
  });

  it('does not retry a 550 at RCPT: the address is suppressed as bounced and never mailed again', async () => {
    let rcptCalls = 0;
    const t = await startTestService({
      smtp: {
        onRcpt: (address) =>
          address.toLowerCase() === 'nobody@example.com' ? (rcptCalls++, { code: 550, message: '5.1.1 No such user' }) : undefined,
      },
    });
    try {
      await postJson(`${t.url}/subscribe`, { email: 'nobody@example.com' });
      const row = await rowOnceIn(t, 'nobody@example.com', 'failed');
      expect(row.attempts).toBe(1);
      expect(row.lastError).toMatch(/550/);
      expect((await findSuppression(t.service.database, [TEST_SECRET], 'nobody@example.com', null))?.reason).toBe('bounced');
      expect((await listFailedMessages(t.service.database)).map((m) => m.email)).toEqual(['nobody@example.com']);
      // Signing up again, in another letter case, queues nothing.
      await postJson(`${t.url}/subscribe`, { email: 'NoBody@Example.com' });
      // The signup writes its row or none before it answers: counted before the canary writes its own.
      expect(await outboxRows(t)).toHaveLength(1);
      await canary(t);
      expect(rcptCalls).toBe(1);
      expect(await metricsText(t)).toMatch(/optin_sends_total\{outcome="bounced"\} 1/);
    } finally {
      await t.stop();
    }
  });

  it('marks a message failed after the last attempt and shows it to admins', async () => {
    const t = await startTestService({
      smtp: { onData: () => ({ code: 421, message: '4.3.2 Service shutting down' }) },
      env: { SEND_BACKOFF_MS: '50', SEND_ATTEMPTS: '2' },
    });
    try {
      await postJson(`${t.url}/subscribe`, { email: 'unlucky@example.com' });
      const row = await rowOnceIn(t, 'unlucky@example.com', 'failed');
      expect(row.attempts).toBe(2);
      expect(row.lastError).toMatch(/gave up after 2 attempts/);
      const [failed] = await listFailedMessages(t.service.database);
      expect(failed).toMatchObject({ email: 'unlucky@example.com', kind: 'confirmation', list: 'default', attempts: 2 });
      const metrics = await metricsText(t);
      expect(metrics).toMatch(/optin_outbox_messages\{status="failed"\} 1/);
      expect(metrics).toMatch(/optin_sends_total\{outcome="failed"\} 1/);
      // A temporary failure is not a bounce.
      expect(await suppressionRows(t)).toHaveLength(0);
    } finally {
      await t.stop();
    }
  });

  it('recovers from SMTP connection errors once the server is back (the pool reconnects)', async () => {
    const port = await freePort();
    const down = await startSmtpSink({ port });
    await down.close();
    const t = await startTestService({ sink: down, env: { SEND_BACKOFF_MS: '300' } });
    const sink = { current: undefined as Awaited<ReturnType<typeof startSmtpSink>> | undefined };
    try {
      await postJson(`${t.url}/subscribe`, { email: 'patient@example.com' });
      await waitFor(
        async () => (await outboxRowOf(t, 'patient@example.com'))?.lastError?.match(/ECONNREFUSED|connect/i),
        5000,
        'a connection error',
      );
      // The operator's fault, not the recipient's: held without an attempt limit, and shown on /readyz.
      const degraded = await waitFor(
        async () => {
          const body = (await (await fetch(`${t.url}/readyz`)).json()) as { status: string; senderFault?: { kind: string } };
          return body.status === 'degraded' ? body : undefined;
        },
        5000,
        '/readyz to say degraded',
      );
      expect(degraded.senderFault?.kind).toBe('connection');
      sink.current = await startSmtpSink({ port });
      await waitFor(() => sink.current!.to('patient@example.com')[0], 10_000, 'the message once SMTP is back');
      await postJson(`${t.url}/subscribe`, { email: 'after@example.com' });
      await waitFor(() => sink.current!.to('after@example.com')[0], 5000, 'a later message over the pool');
      // The service's sink is the restarted one, not the closed one it was started with.
      await canary({ url: t.url, smtp: sink.current, database: t.service.database });
      expect(sink.current.to('patient@example.com')).toHaveLength(1);
      expect((await outboxRowOf(t, 'patient@example.com'))?.status).toBe('sent');
      expect(await suppressionRows(t)).toHaveLength(0);
    } finally {
      await t.stop();
      await sink.current?.close();
    }
  });
});
