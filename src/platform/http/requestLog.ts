import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { maskEmail, type Logger } from '../../logger.js';

declare module 'http' {
  interface IncomingMessage {
    /** This request's id (also sent back as X-Request-Id). */
    id: string;
    /** A logger whose lines carry this request's id, method and path. */
    log: Logger;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Percent-decodings tried on a path segment: an address may come encoded, or encoded twice. */
const DECODINGS = 3;

/** A segment as logged: one that holds an address (in any of its encodings) is masked as maskEmail does. */
function loggableSegment(raw: string): string {
  let decoded = raw;
  for (let i = 0; i < DECODINGS && decoded.includes('%'); i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      // A malformed escape: what was decoded so far is what is checked.
      break;
    }
  }
  if (!decoded.includes('@')) return raw;
  return encodeURIComponent(maskEmail(decoded)).replaceAll('%40', '@');
}

/**
 * The path as logged, without the query string (which carries tokens) and with any address in
 * it masked: admins look up, export and erase contacts by address in the path
 * (`DELETE /admin/api/contacts/<address>`), and a log line must not keep the address an erasure
 * removed everywhere else.
 */
export function loggablePath(url: string): string {
  const path = url.split('?', 1)[0]!;
  return path.includes('@') || path.includes('%') ? path.split('/').map(loggableSegment).join('/') : path;
}

/**
 * One JSON log line per request, with a request id (the caller's X-Request-Id when it is sane,
 * else a new one) that is echoed back and carried by every line logged through req.log.
 * Only the path is logged, with addresses masked (loggablePath): query strings carry tokens, and
 * bodies and headers carry addresses.
 *
 * Written out rather than pino-http: that built a child logger (serializing the request) for
 * every request, even when the level drops every line; here req.log is made on first use and
 * the completion line is only assembled when its level is on.
 */
export function requestLogger(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    req.id = id;
    const path = loggablePath(req.url ?? '');
    const method = req.method;
    let log: Logger | undefined;
    const requestLog = () => (log ??= logger.child({ req: { id, method, path } }));
    Object.defineProperty(req, 'log', { get: requestLog, set: (value: Logger) => (log = value), configurable: true, enumerable: true });

    if (!QUIET_PATHS.has(path) && logger.isLevelEnabled('info')) {
      const startedAt = Date.now();
      const done = (error?: Error) => {
        res.off('finish', done);
        res.off('close', done);
        res.off('error', done);
        const fields = { res: { statusCode: res.statusCode }, responseTime: Date.now() - startedAt };
        if (error) {
          requestLog().info({ ...fields, err: error }, 'request errored');
        } else if (res.statusCode >= 500) {
          // The handler that answered 5xx logged its own cause; this line only ties it to the request.
          requestLog().info(fields, 'request failed');
        } else {
          requestLog().info(fields, 'request completed');
        }
      };
      res.on('finish', done);
      res.on('close', done);
      res.on('error', done);
    }
    next();
  };
}
