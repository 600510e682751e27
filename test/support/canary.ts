import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Database } from '../../src/platform/db/database.js';
import { postJson, waitFor } from './http.js';
import { ADMIN_AUTH, type TestService } from './service.js';
import type { SmtpSink } from './smtpSink.js';
import { startWebhookReceiver } from './webhookReceiver.js';

/**
 * How a test shows that nothing was sent: it sends a canary after the act and waits for it.
 * Once the canary arrives, what came before it has been decided.
 */

/** A service the canary can go through, when it is not a TestService (a service process, or a sink started later). */
export interface CanaryTarget {
  /** Serves POST /subscribe. */
  url: string;
  /** Where the service's mail arrives. */
  smtp: SmtpSink;
  /** The service's database, whose outbox is waited on. */
  database: Database;
}

const CANARY_TIMEOUT_MS = 10_000;

/**
 * An address no test uses, on a domain no test suppresses: the per-address limits, suppressions
 * and assertions of a test never see it.
 */
function canaryAddress(): string {
  return `canary-${randomUUID()}@canary.test`;
}

/**
 * Waits until every outbox row that is queued now is sent, dropped or failed. A sent row is
 * marked after the SMTP server took the message (the sink keeps it before it answers), so once
 * every row is decided, whatever they send is in the sink and nothing more will be.
 */
export async function outboxDecided(database: Database, timeoutMs = CANARY_TIMEOUT_MS): Promise<void> {
  const {
    db,
    tables: { outbox },
  } = database;
  const queued = () =>
    db.select({ id: outbox.id, kind: outbox.kind, lastError: outbox.lastError }).from(outbox).where(eq(outbox.status, 'queued'));
  const waiting = new Set((await queued()).map((row) => row.id));
  let left: Awaited<ReturnType<typeof queued>> = [];
  try {
    await waitFor(
      async () => {
        left = (await queued()).filter((row) => waiting.has(row.id));
        return left.length === 0;
      },
      timeoutMs,
      `${waiting.size} outbox rows to be decided`,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; still queued: ${JSON.stringify(left)}`);
  }
}

export interface CanaryOptions {
  /** Leave the canary's message in the sink, for a test that matches every sent outbox row to its message. */
  keepMessage?: boolean;
}

/**
 * Signs up a fresh address and waits for its confirmation to reach the sink, then for every
 * outbox row written before it to be decided: with WORKER_CONCURRENCY above 1 a job taken
 * before the canary's may still be in flight when the canary lands. The canary's message is
 * then taken out of the sink, so counts of messages stay the test's own; its contact, pending
 * subscription and outbox row stay in the database (a test counting those counts before it).
 */
export async function canary(t: TestService | CanaryTarget, options: CanaryOptions = {}): Promise<void> {
  const { url, smtp, database } = 'service' in t ? { url: t.url, smtp: t.smtp, database: t.service.database } : t;
  const email = canaryAddress();
  const res = await postJson(`${url}/subscribe`, { email });
  if (res.status !== 202) throw new Error(`the canary's signup answered ${res.status}: ${await res.text()}`);
  // Taken once the canary's row is written: the rows before it, and its own.
  const decided = outboxDecided(database);
  const [mail] = await Promise.all([waitFor(() => smtp.to(email)[0], CANARY_TIMEOUT_MS, `the canary's confirmation to ${email}`), decided]);
  if (!options.keepMessage) smtp.messages.splice(smtp.messages.indexOf(mail), 1);
}

/**
 * The canary of outbound webhooks: a receiver of its own, registered for
 * subscription.unsubscribed, told of an opt-out recorded after the act. Once it has the event,
 * the webhook relay and worker have gone past the act. The endpoint is deleted afterwards; the
 * suppression stays. Other endpoints listening to subscription.unsubscribed get the canary too.
 */
export async function webhookCanary(t: TestService): Promise<void> {
  const receiver = await startWebhookReceiver();
  try {
    const created = await postJson(
      `${t.url}/admin/api/webhook-endpoints`,
      // An event the tested endpoints do not listen to: since a disabled endpoint keeps collecting
      // its events, the canary's own must not land in theirs.
      { url: receiver.url, events: ['subscription.unsubscribed'] },
      ADMIN_AUTH,
    );
    if (created.status !== 201) throw new Error(`the canary's endpoint answered ${created.status}: ${await created.text()}`);
    const { id, secret } = (await created.json()) as { id: string; secret: string };
    receiver.secret = secret;
    const email = canaryAddress();
    const suppressed = await postJson(`${t.url}/admin/api/suppressions`, { email, reason: 'unsubscribed' }, ADMIN_AUTH);
    if (suppressed.status !== 201) throw new Error(`the canary's suppression answered ${suppressed.status}: ${await suppressed.text()}`);
    await waitFor(
      () => receiver.accepted().some((event) => event.data.email === email),
      CANARY_TIMEOUT_MS,
      `the canary event for ${email}`,
    );
    const deleted = await fetch(`${t.url}/admin/api/webhook-endpoints/${id}`, { method: 'DELETE', headers: ADMIN_AUTH });
    if (deleted.status !== 204) throw new Error(`deleting the canary's endpoint answered ${deleted.status}`);
  } finally {
    await receiver.close();
  }
}
