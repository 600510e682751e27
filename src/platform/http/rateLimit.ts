import type { RequestHandler, Response } from 'express';
import type { RedisClient } from '../queue/redis.js';
import { RateLimiterMemory, RateLimiterRedis, RLWrapperTimeouts, type RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../../errors.js';
import type { Logger } from '../../logger.js';

export interface RateLimitOptions {
  /** Requests per client IP per minute; 0 turns the limit off. */
  perMinute: number;
  /** Redis key prefix, so the counters of one deployment are shared by all its processes. */
  keyPrefix: string;
}

/**
 * The key a client is counted under: its IPv4 address, or the /64 network of an IPv6 address
 * (one subscriber line gets a whole /64, so single IPv6 addresses cost a bot nothing).
 */
export function clientKey(ip: string): string {
  const address = ip.split('%')[0]!;
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const [head = '', tail = ''] = address.split('::');
  const before = head ? head.split(':') : [];
  const after = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...before, ...Array<string>(Math.max(0, 8 - before.length - after.length)).fill('0'), ...after]
    : before;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** A Redis answer slower than this is not worth a signup: the in-process limiter decides instead. */
const REDIS_TIMEOUT_MS = 300;

/**
 * A counter per client kept in Redis, so it holds across processes. When Redis is down or slow,
 * each process falls back to its own in-memory counter (same limit per process) rather than
 * refusing or hanging.
 */
export function sharedCounter(redis: RedisClient, shape: { points: number; duration: number; keyPrefix: string }): RLWrapperTimeouts {
  const insuranceLimiter = new RateLimiterMemory(shape);
  return new RLWrapperTimeouts({
    limiter: new RateLimiterRedis({ ...shape, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter }),
    insuranceLimiter,
    timeoutMs: REDIS_TIMEOUT_MS,
  });
}

/** A limiter's refusal is a plain result object (not always this module's RateLimiterRes class); a failure is an Error. */
export function isRefusal(rejection: unknown): rejection is Pick<RateLimiterRes, 'msBeforeNext'> {
  return !(rejection instanceof Error);
}

/** Whole seconds until the window ends, at least 1, for the Retry-After header. */
export function retryAfterSeconds(msBeforeNext: number | undefined, fallbackMs: number): number {
  return Math.max(1, Math.ceil((msBeforeNext ?? fallbackMs) / 1000));
}

/**
 * Per-IP limit kept in Redis (see sharedCounter): a signup must still be accepted while Redis
 * is away.
 */
export function rateLimitByIp(redis: RedisClient, options: RateLimitOptions, logger: Logger): RequestHandler {
  if (options.perMinute <= 0) return (_req, _res, next) => next();
  const limiter = sharedCounter(redis, { points: options.perMinute, duration: 60, keyPrefix: `${options.keyPrefix}:ratelimit:ip` });

  return async (req, res, next) => {
    try {
      await limiter.consume(clientKey(req.ip ?? 'unknown'));
      next();
    } catch (rejection) {
      if (isRefusal(rejection)) {
        res.set('Retry-After', String(retryAfterSeconds(rejection.msBeforeNext, 60_000)));
        next(new AppError(429, 'rate_limited', 'Too many requests from your address. Please wait a minute and try again.'));
        return;
      }
      // Both limiters failed: let the request through rather than turn a signup away.
      logger.warn({ err: (rejection as Error).message }, 'rate limiter unavailable; request let through');
      next();
    }
  };
}

/**
 * How often one link (a mail's unsubscribe or preference link: the subscription it names) may
 * resubscribe, or join lists from the preference centre, per hour. A person undoing a mistake
 * needs one or two; a forwarded link used to flood the address with mail gets no further.
 */
export const LINK_CHANGES_PER_HOUR = 5;

export type KeyLimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * A limit per key rather than per client (see sharedCounter: kept in Redis, in memory while
 * Redis is away). Both counters failing lets the request through, as for signups.
 */
export function rateLimitByKey(
  redis: RedisClient,
  options: { points: number; durationSeconds: number; keyPrefix: string },
  logger: Logger,
): (key: string) => Promise<KeyLimitDecision> {
  const limiter = sharedCounter(redis, { points: options.points, duration: options.durationSeconds, keyPrefix: options.keyPrefix });
  return async (key) => {
    try {
      await limiter.consume(key);
      return { allowed: true };
    } catch (rejection) {
      if (isRefusal(rejection))
        return { allowed: false, retryAfterSeconds: retryAfterSeconds(rejection.msBeforeNext, options.durationSeconds * 1000) };
      logger.warn({ err: (rejection as Error).message }, 'rate limiter unavailable; request let through');
      return { allowed: true };
    }
  };
}

/** The answer to a link used too often: 429 with Retry-After (a page in the person's language for a browser). */
export function linkRateLimited(res: Response, retryAfter: number): AppError {
  res.set('Retry-After', String(retryAfter));
  return new AppError(429, 'link_rate_limited', 'This link was used too often in a short time. Please wait a while and try again.');
}
