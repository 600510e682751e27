import type { Request, Response } from 'express';
import type { RedisClient } from '../queue/redis.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { clientKey, isRefusal, retryAfterSeconds, sharedCounter } from './rateLimit.js';

const WINDOW_SECONDS = 15 * 60;

/**
 * Failed admin authentications (a wrong console password or bearer token) per client IP, counted
 * together: both guess ADMIN_TOKEN. Only failures count, so an admin's own traffic never uses
 * the allowance; once it is used up the address is refused until the window ends, even with
 * the right token (answering that would tell a guesser which guess was right).
 */
export interface AdminAuthLimit {
  /** Throws 429 (with Retry-After) while this client is over the limit; call before looking at its credential. */
  refuseIfOverLimit(req: Request, res: Response): Promise<void>;
  /** Counts a failed attempt; throws 429 when another request got there first and this one is over. */
  countFailure(req: Request, res: Response): Promise<void>;
}

export function adminAuthLimit(redis: RedisClient, options: { failuresPer15m: number; keyPrefix: string }, logger: Logger): AdminAuthLimit {
  const allowed = options.failuresPer15m;
  if (allowed <= 0) return { refuseIfOverLimit: async () => {}, countFailure: async () => {} };
  const counter = sharedCounter(redis, { points: allowed, duration: WINDOW_SECONDS, keyPrefix: `${options.keyPrefix}:adminauth:ip` });

  const refuse = (res: Response, msBeforeNext: number | undefined) => {
    const seconds = retryAfterSeconds(msBeforeNext, WINDOW_SECONDS * 1000);
    res.set('Retry-After', String(seconds));
    return new AppError(
      429,
      'too_many_attempts',
      `Too many failed sign-in attempts from your address. Try again in ${Math.ceil(seconds / 60)} minutes.`,
    );
  };
  // With both Redis and the in-memory counter failing, the admin is let in rather than locked out.
  const unavailable = (error: unknown) =>
    logger.warn({ err: (error as Error).message }, 'admin sign-in limiter unavailable; attempt not limited');

  return {
    async refuseIfOverLimit(req, res) {
      let state;
      try {
        state = await counter.get(clientKey(req.ip ?? 'unknown'));
      } catch (error) {
        unavailable(error);
        return;
      }
      if (state && state.consumedPoints >= allowed) throw refuse(res, state.msBeforeNext);
    },

    async countFailure(req, res) {
      try {
        const state = await counter.consume(clientKey(req.ip ?? 'unknown'));
        if (state.consumedPoints === allowed) {
          logger.warn(
            { ip: req.ip, failures: allowed, refusedForSeconds: retryAfterSeconds(state.msBeforeNext, WINDOW_SECONDS * 1000) },
            'too many failed admin sign-ins from this address: refused until the window ends',
          );
        }
      } catch (rejection) {
        if (isRefusal(rejection)) throw refuse(res, rejection.msBeforeNext);
        unavailable(rejection);
      }
    },
  };
}
