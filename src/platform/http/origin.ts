import type { Request, RequestHandler } from 'express';
import { AppError } from '../../errors.js';
import type { RequestOrigin } from '../../features/policy/index.js';

const clip = (value: string | undefined, max: number) => (value ? value.slice(0, max) : null);

/** The proof of where a request came from, as recorded in the consent log. */
export function requestOrigin(req: Request): RequestOrigin {
  return {
    ip: req.ip ?? null,
    userAgent: clip(req.get('user-agent'), 512),
    source: clip(req.get('referer'), 2048),
  };
}

/**
 * Refuses a form post another site made a browser send (403 `cross_site`): a foreign `Origin`
 * (`null` included: our own pages post with their real origin, under a same-origin referrer
 * policy), or, with no `Origin`, a foreign `Referer`, or a browser that says `Sec-Fetch-Site:
 * cross-site`. A request with none of these (curl, a script) is not a browser's, and passes.
 * Ours is PUBLIC_URL's origin, or the origin the request was addressed to.
 */
export function refuseCrossSite(publicUrl: string): RequestHandler {
  const ours = new URL(publicUrl).origin;
  return (req, _res, next) => {
    const own = (origin: string) => origin === ours || origin === `${req.protocol}://${req.get('host') ?? ''}`;
    const origin = req.get('origin');
    const referer = req.get('referer');
    const fetchSite = req.get('sec-fetch-site');
    let foreign = fetchSite === 'cross-site' || fetchSite === 'same-site';
    if (origin !== undefined) foreign ||= !own(origin);
    else if (referer !== undefined) foreign ||= !own(originOf(referer));
    next(foreign ? new AppError(403, 'cross_site', 'This request came from another site and was refused.') : undefined);
  };
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'null';
  }
}
