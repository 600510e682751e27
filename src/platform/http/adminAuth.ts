import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Config } from '../../config.js';
import type { Database } from '../db/database.js';
import { AppError } from '../../errors.js';
import type { AdminAuthLimit } from './adminAuthLimit.js';
import { checkCsrf, isSafeMethod, readSession } from './adminSession.js';

/**
 * Compares in constant time. Hashing both sides first gives equal lengths, so neither the
 * content nor the length of the configured token leaks through timing.
 */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header, if the request has one. */
function bearerToken(req: Request): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1];
}

/** True when the request carries `Authorization: Bearer <token>` (compared in constant time). */
export function hasBearer(req: Request, token: string): boolean {
  const bearer = bearerToken(req);
  return bearer !== undefined && sameSecret(bearer, token);
}

export interface AdminAuthDeps {
  config: Pick<Config, 'adminToken' | 'secrets' | 'publicUrl'>;
  database: Database;
  /** Failed bearer tokens count against the client's address, as failed console sign-ins do. */
  authLimit: AdminAuthLimit;
}

/**
 * Guards every admin route. Programs send the bearer token; the console's browser sends its
 * session cookie, and then every change also needs the session's CSRF token. With no
 * ADMIN_TOKEN configured the admin API is off and says so.
 * `whenSignedOut` lets the console's pages send a browser to the sign-in form instead of a 401.
 */
export function requireAdmin({ config, database, authLimit }: AdminAuthDeps, whenSignedOut?: RequestHandler): RequestHandler {
  return async (req, res, next) => {
    if (!config.adminToken) {
      next(new AppError(503, 'admin_disabled', 'The admin API is off: set ADMIN_TOKEN to turn it on.'));
      return;
    }
    const bearer = bearerToken(req);
    if (bearer !== undefined) {
      await authLimit.refuseIfOverLimit(req, res);
      if (sameSecret(bearer, config.adminToken)) {
        next();
        return;
      }
      req.log.warn({ ip: req.ip }, 'admin bearer token refused');
      await authLimit.countFailure(req, res);
    }
    const session = await readSession(req, config, database);
    if (session) {
      if (!isSafeMethod(req.method)) checkCsrf(req, config, session);
      res.locals.adminSession = session;
      next();
      return;
    }
    if (whenSignedOut) {
      whenSignedOut(req, res, next);
      return;
    }
    res.set('WWW-Authenticate', 'Bearer realm="optin admin"');
    next(new AppError(401, 'unauthorized', 'Send the admin token as "Authorization: Bearer <ADMIN_TOKEN>".'));
  };
}
