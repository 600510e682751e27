import type { RedisClient } from '../queue/redis.js';
import type { Logger } from '../../logger.js';
import type { SenderFaultKind, SenderSetupError } from './sendErrors.js';
import type { Metrics } from '../../metrics.js';

/** A held message is retried at least this often, however long the fault lasts. */
export const SENDER_FAULT_MAX_DELAY_MS = 5 * 60_000;

/** SEND_BACKOFF_MS, doubled at each fault in a row, capped at SENDER_FAULT_MAX_DELAY_MS. */
export function senderFaultRetryDelayMs(faultsInARow: number, backoffMs: number): number {
  const exponent = Math.min(Math.max(faultsInARow - 1, 0), 30);
  return Math.min(backoffMs * 2 ** exponent, SENDER_FAULT_MAX_DELAY_MS);
}

/**
 * The fault holding messages now, kept in Redis so that every process (an API apart from its
 * worker) can show it on /readyz and /metrics. Held messages retry at least every 5 minutes and
 * each retry renews the record, so one that outlives three of those intervals is stale: no worker
 * is retrying anymore.
 */
export interface SenderFaultRecord {
  kind: SenderFaultKind;
  /** When this process first saw this kind of fault (ms since the epoch). */
  since: number;
}

const RECORD_TTL_MS = 3 * SENDER_FAULT_MAX_DELAY_MS;
const recordKey = (queuePrefix: string) => `${queuePrefix}:sender-fault`;

export async function readSenderFault(redis: Pick<RedisClient, 'get'>, queuePrefix: string): Promise<SenderFaultRecord | null> {
  const text = await redis.get(recordKey(queuePrefix));
  if (!text) return null;
  try {
    const record = JSON.parse(text) as Partial<SenderFaultRecord>;
    return typeof record.kind === 'string' && typeof record.since === 'number' ? { kind: record.kind, since: record.since } : null;
  } catch {
    return null;
  }
}

export interface SenderFaultTracker {
  /** A send was held by a fault of the operator's setup; it is retried in `retryInMs`. */
  held(error: SenderSetupError, context: { outboxId: string; faultsInARow: number; retryInMs: number }): void;
  /** The SMTP server took a message (or refused its recipient): the sender's setup works. */
  working(): void;
}

/**
 * The worker's side: logs a fault loudly once when it starts or changes kind (error), each held
 * send at warn, and the recovery; counts held sends; keeps the shared record up to date.
 */
export function trackSenderFaults(
  redis: Pick<RedisClient, 'set' | 'del'>,
  queuePrefix: string,
  logger: Logger,
  metrics: Pick<Metrics, 'senderFaults'>,
): SenderFaultTracker {
  let current: SenderFaultRecord | null = null;
  // A record left by an earlier run is cleared by this run's first successful send.
  let recordMayLinger = true;
  const quietly = (write: Promise<unknown>) =>
    write.catch((error: Error) => logger.warn({ err: error.message }, 'could not update the sender fault record in Redis'));

  return {
    held(error, { outboxId, faultsInARow, retryInMs }) {
      metrics.senderFaults.inc({ kind: error.kind });
      const details = { kind: error.kind, command: error.command, responseCode: error.responseCode, err: error.message };
      if (current?.kind !== error.kind) {
        current = { kind: error.kind, since: Date.now() };
        logger.error(
          details,
          'SMTP refuses our own setup (login, sender, relay, connection or TLS): messages are held and retried until it is fixed; no recipient is suppressed',
        );
      }
      logger.warn({ ...details, outboxId, faultsInARow, retryInMs }, 'send held by a fault of the sender setup; will retry');
      recordMayLinger = true;
      quietly(redis.set(recordKey(queuePrefix), JSON.stringify(current), 'PX', RECORD_TTL_MS));
    },
    working() {
      if (current) {
        logger.warn(
          { kind: current.kind, lastedMs: Date.now() - current.since },
          'SMTP accepts our setup again: held messages go out at their next retry',
        );
        current = null;
      }
      if (recordMayLinger) {
        recordMayLinger = false;
        quietly(redis.del(recordKey(queuePrefix)));
      }
    },
  };
}
