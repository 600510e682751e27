import type { Request } from 'express';
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
