import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';

/**
 * Compares in constant time. Hashing both sides first gives equal lengths, so neither the
 * content nor the length of the configured token leaks through timing.
 */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** True when the request carries `Authorization: Bearer <ADMIN_TOKEN>`. */
export function hasAdminBearer(req: Request, adminToken: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '');
  return match !== null && sameSecret(match[1]!, adminToken);
}

/**
 * Guards every admin route. With no ADMIN_TOKEN configured the admin API is off and says so.
 * Other ways in (a browser session, say) can be added beside the bearer check here.
 */
export function requireAdmin(config: Pick<Config, 'adminToken'>): RequestHandler {
  return (req, res, next) => {
    if (!config.adminToken) {
      next(new AppError(503, 'admin_disabled', 'The admin API is off: set ADMIN_TOKEN to turn it on.'));
      return;
    }
    if (!hasAdminBearer(req, config.adminToken)) {
      res.set('WWW-Authenticate', 'Bearer realm="optin admin"');
      next(new AppError(401, 'unauthorized', 'Send the admin token as "Authorization: Bearer <ADMIN_TOKEN>".'));
      return;
    }
    next();
  };
}
