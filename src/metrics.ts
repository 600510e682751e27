import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SENDER_FAULT_KINDS, type SenderFaultKind } from './platform/mail/sendErrors.js';

export type SendOutcome = 'sent' | 'retry' | 'failed' | 'bounced' | 'dropped';

/**
 * Prometheus metrics of one service. One registry per service (not prom-client's global one),
 * so several services in one test process keep their own counts.
 */
export interface Metrics {
  registry: Registry;
  /** Signups answered 202 (whatever the address's state). */
  signups: Counter;
  confirmations: Counter;
  /** For the unsubscribe handlers: call `metrics.unsubscribes.inc()` once per opt-out. */
  unsubscribes: Counter;
  sends: Counter<'outcome'>;
  /** Seconds spent in the SMTP call, by outcome. */
  sendDuration: Histogram<'outcome'>;
  webhookEvents: Counter<'provider' | 'type'>;
  queueJobs: Gauge<'state'>;
  outboxMessages: Gauge<'status'>;
  /** 1 for the kind of sender setup fault holding messages now (as on /readyz), 0 for the others. */
  senderFault: Gauge<'kind'>;
  /** Signups refused at the door, by code: disposable_address, address_typo, undeliverable_domain. */
  signupRefusals: Counter<'code'>;
  /** Domain checks (CHECK_MX) that got no definite answer from DNS (the signup went through), by error code. */
  domainCheckFailures: Counter<'code'>;
  /** Sends held by a fault of the sender's setup (login, sender, relay, connection, TLS), by kind. */
  senderFaults: Counter<'kind'>;
}

export interface GaugeSources {
  /** Job counts by BullMQ state; throws when Redis is away (the gauge then keeps no value). */
  queueCounts(): Promise<Record<string, number>>;
  /** Outbox rows by status (queued = backlog, failed = given up). */
  outboxCounts(): Promise<Record<string, number>>;
  /** The sender setup fault holding messages now, if any; throws when Redis is away. */
  senderFault(): Promise<SenderFaultKind | null>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'optin_' });
  const registers = [registry];
  return {
    registry,
    signups: new Counter({ name: 'optin_signups_total', help: 'Signup requests accepted (202).', registers }),
    confirmations: new Counter({ name: 'optin_confirmations_total', help: 'Subscriptions confirmed.', registers }),
    unsubscribes: new Counter({ name: 'optin_unsubscribes_total', help: 'Subscriptions ended by their owner.', registers }),
    sends: new Counter({
      name: 'optin_sends_total',
      help: 'Delivery attempts by outcome: sent, retry (temporary failure), failed (gave up), bounced (5xx), dropped (mail policy).',
      labelNames: ['outcome'],
      registers,
    }),
    sendDuration: new Histogram({
      name: 'optin_send_duration_seconds',
      help: 'Time spent handing one message to the SMTP server.',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    webhookEvents: new Counter({
      name: 'optin_webhook_events_total',
      help: 'Provider events applied, by provider and type (replays are not counted).',
      labelNames: ['provider', 'type'],
      registers,
    }),
    queueJobs: new Gauge({ name: 'optin_queue_jobs', help: 'Mail jobs in the queue by state.', labelNames: ['state'], registers }),
    outboxMessages: new Gauge({
      name: 'optin_outbox_messages',
      help: 'Outbox rows by status; "queued" is the backlog, "failed" the messages given up on.',
      labelNames: ['status'],
      registers,
    }),
    signupRefusals: new Counter({
      name: 'optin_signup_refusals_total',
      help: 'Signups refused at the door, by code (disposable_address, address_typo, undeliverable_domain).',
      labelNames: ['code'],
      registers,
    }),
    domainCheckFailures: new Counter({
      name: 'optin_domain_check_failures_total',
      help: 'Domain checks (CHECK_MX) with no definite answer from DNS, by error code; those signups went through.',
      labelNames: ['code'],
      registers,
    }),
    senderFault: new Gauge({
      name: 'optin_sender_fault',
      help: '1 while messages are held by a fault of the sender setup of this kind (auth, sender, relay, connection, tls); nobody is suppressed for it.',
      labelNames: ['kind'],
      registers,
    }),
    senderFaults: new Counter({
      name: 'optin_sender_faults_total',
      help: 'Sends held (and retried later) because the SMTP server refused our own setup, by kind.',
      labelNames: ['kind'],
      registers,
    }),
  };
}

/** Refreshes the gauges that describe state rather than count events; called on each scrape. */
export async function refreshGauges(metrics: Metrics, sources: GaugeSources): Promise<void> {
  for (const [status, count] of Object.entries(await sources.outboxCounts())) metrics.outboxMessages.set({ status }, count);
  try {
    for (const [state, count] of Object.entries(await sources.queueCounts())) metrics.queueJobs.set({ state }, count);
  } catch {
    // Redis is away: an absent series is more honest than a stale one; /readyz says why.
    metrics.queueJobs.reset();
  }
  try {
    const fault = await sources.senderFault();
    for (const kind of SENDER_FAULT_KINDS) metrics.senderFault.set({ kind }, fault === kind ? 1 : 0);
  } catch {
    metrics.senderFault.reset();
  }
}
