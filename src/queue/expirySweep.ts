import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import { deleteExpiredRequests } from '../subscriptions/expiry.js';

export const EXPIRY_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Deletes expired, never-confirmed signups now and then every interval. A plain timer is enough:
 * the sweep is idempotent, so two worker processes running it only repeat each other's no-op.
 */
export function startExpirySweep(db: Db, secrets: readonly string[], logger: Logger, intervalMs = EXPIRY_SWEEP_INTERVAL_MS): { stop(): void } {
  const sweep = () => {
    try {
      const outcome = deleteExpiredRequests(db, secrets);
      if (outcome.subscriptions > 0) logger.info(outcome, 'expired signup requests deleted');
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'expiry sweep failed; will try again');
    }
  };
  const first = setTimeout(sweep, 1000);
  const timer = setInterval(sweep, intervalMs);
  first.unref();
  timer.unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
