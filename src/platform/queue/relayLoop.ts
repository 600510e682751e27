import type { Logger } from '../../logger.js';
import { loggableMessage } from './logErrors.js';

/** A row an outbox-like table hands to a queue: its id, and when it was last handed (null: never). */
export interface HandableRow {
  id: string;
  handedAt: number | null;
}

/**
 * What a relay does with its own table and queue (mail's outbox, webhook deliveries); the loop
 * around it (batches, one sweep at a time, the interval, the sweep on each Redis connect) is
 * the same for both.
 */
export interface RelayRows {
  /** Claims up to `limit` queued rows never handed or handed before `cutoff`, stamping them handed `now`. */
  claimDue(cutoff: number, now: number, limit: number): Promise<HandableRow[]>;
  /** Gives a claim back after its hand-over failed, so the next sweep tries the rows again. */
  releaseClaim(rows: readonly HandableRow[], claimedAt: number): Promise<void>;
  /** Whether a row handed long ago must be handed again (its job is gone, or ended without marking the row). */
  needsRehand(id: string): Promise<boolean>;
  /** Adds the rows' jobs (jobId = row id, so a job that exists is not added twice). */
  hand(ids: readonly string[]): Promise<void>;
  batchSize: number;
  /** How many more rows the queue should take now (the broadcast relay's window); unset: a batch at a time. */
  capacity?: () => Promise<number>;
}

export interface RelayLoopOptions {
  intervalMs: number;
  /** A queued row handed longer ago than this is checked on and handed again if its job is gone. */
  rehandAfterMs: number;
  /** The queue's Redis connection: each time it (re)connects, Redis may have lost jobs, so every queued row is handed again. */
  connection?: {
    readonly status: string;
    on(event: 'ready', listener: () => void): unknown;
    off(event: 'ready', listener: () => void): unknown;
  };
  /** How the logs name the relay and its rows: "outbox relay" and "messages". */
  name: string;
  rows: string;
}

export interface RelayLoop {
  /**
   * One sweep: hand every queued row never handed, and check on rows handed long ago. With
   * `everything`, every queued row is handed again (Redis just reconnected and may have lost
   * them). Returns how many rows were handed.
   */
  sweep(options?: { everything?: boolean }): Promise<number>;
  /** Whether the queue's Redis connection is ready (always, without one). */
  redisReady(): boolean;
  /** Counts a hand-over in flight (the sweeps are counted already), so settle() waits for it. */
  track<T>(promise: Promise<T>): Promise<T>;
  /** Stops the interval and the reconnect sweeps; a hand-over under way goes on (see settle). */
  stop(): void;
  /** Waits for the hand-overs in flight, at most a couple of seconds: their rows are safe in the table either way. */
  settle(): Promise<void>;
}

/** How long settle() waits for hand-overs in flight. */
const STOP_WAIT_MS = 2000;

/** Runs a relay's sweeps: every interval while Redis is ready, and a full one on each Redis connect. */
export function startRelayLoop(source: RelayRows, logger: Logger, options: RelayLoopOptions): RelayLoop {
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    promise.finally(() => inFlight.delete(promise)).catch(() => {});
    return promise;
  };
  let sweeping: Promise<number> | null = null;

  async function sweepOnce(everything: boolean): Promise<number> {
    let handed = 0;
    const started = Date.now();
    // Rows claimed during this sweep get handedAt >= started, so they drop out of the query.
    const cutoff = everything ? started : started - options.rehandAfterMs;
    for (;;) {
      const now = Date.now();
      const limit = Math.min(source.batchSize, source.capacity ? await source.capacity() : source.batchSize);
      if (limit <= 0) return handed;
      const due = await source.claimDue(cutoff, now, limit);
      if (due.length === 0) return handed;
      try {
        const toHand: string[] = [];
        for (const row of due) {
          if (everything || row.handedAt === null || (await source.needsRehand(row.id))) toHand.push(row.id);
        }
        await source.hand(toHand);
        handed += toHand.length;
      } catch (error) {
        await source
          .releaseClaim(due, now)
          .catch((releaseError: unknown) =>
            logger.warn(
              { err: loggableMessage(releaseError) },
              `${options.name} could not give back its claim; the ${options.rows} are handed once they are due again`,
            ),
          );
        throw error;
      }
      if (due.length < limit) return handed;
    }
  }

  // While Redis is away, BullMQ commands wait for it to come back; handing nothing until then keeps
  // promises from piling up, and the sweep on reconnect hands every queued row.
  const redisReady = () => options.connection === undefined || options.connection.status === 'ready';

  const loop: RelayLoop = {
    sweep(sweepOptions) {
      const everything = sweepOptions?.everything === true;
      // One sweep at a time: overlapping sweeps would only hand the same rows twice. A full
      // sweep asked for while another runs follows it, since rows that one skipped still count.
      if (sweeping && !everything) return sweeping;
      const previous = sweeping;
      const run = previous ? previous.catch(() => 0).then(() => sweepOnce(everything)) : sweepOnce(everything);
      const current: Promise<number> = track(run).finally(() => {
        if (sweeping === current) sweeping = null;
      });
      sweeping = current;
      return current;
    },
    redisReady,
    track,
    stop() {
      clearInterval(timer);
      options.connection?.off('ready', onReady);
    },
    async settle() {
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((resolve) => {
          timeout = setTimeout(resolve, STOP_WAIT_MS);
        }),
      ]);
      clearTimeout(timeout);
    },
  };

  const timer = setInterval(() => {
    if (!redisReady()) return;
    loop.sweep().then(
      (handed) => handed > 0 && logger.info({ handed }, `${options.name} handed ${options.rows} to the queue`),
      (error: unknown) => logger.warn({ err: loggableMessage(error) }, `${options.name} sweep failed; will retry`),
    );
  }, options.intervalMs);
  timer.unref();
  const onReady = () => {
    loop.sweep({ everything: true }).then(
      (handed) => handed > 0 && logger.info({ handed }, `Redis (re)connected: ${options.name} handed queued ${options.rows} again`),
      (error: unknown) => logger.warn({ err: loggableMessage(error) }, `${options.name} sweep after reconnect failed; will retry`),
    );
  };
  options.connection?.on('ready', onReady);
  return loop;
}
