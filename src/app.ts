import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler, type Router } from 'express';
import type { Queue } from 'bullmq';
import type { RedisClient } from './platform/queue/redis.js';
import type { Config } from './config.js';
import { AppError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { SubscriptionService } from './subscriptionService.js';
import type { BroadcastService } from './features/broadcasts/index.js';
import * as bounces from './features/bounces/index.js';
import * as broadcasts from './features/broadcasts/index.js';
import * as consent from './features/consent/index.js';
import * as dashboard from './features/dashboard/index.js';
import * as lists from './features/lists/index.js';
import * as monitoring from './features/monitoring/index.js';
import * as optout from './features/optout/index.js';
import * as preferences from './features/preferences/index.js';
import * as sending from './features/sending/index.js';
import * as signup from './features/signup/index.js';
import * as subscribers from './features/subscribers/index.js';
import * as suppression from './features/suppression/index.js';
import * as webhooksOut from './features/webhooks-out/index.js';
import type { Database } from './platform/db/database.js';
import { requireAdmin } from './platform/http/adminAuth.js';
import { adminAuthLimit } from './platform/http/adminAuthLimit.js';
import { consoleFrame, type ConsolePageTools } from './platform/http/consoleFrame.js';
import { multipartFields } from './platform/http/multipartFields.js';
import { requestLogger } from './platform/http/requestLog.js';
import { sendError, setPageSite } from './platform/http/respond.js';
import { securityHeaders, signupCors } from './platform/http/security.js';
import { loggableError } from './platform/queue/logErrors.js';
import type { MailJob } from './platform/queue/queues.js';

export interface AppDeps {
  /** Reads go through it as a Scope; every write through database.transaction. */
  database: Database;
  /** Signup, confirm, unsubscribe and resubscribe: each hands the outbox rows it wrote to the relay after its commit. */
  subscriptions: SubscriptionService;
  /** Broadcasts to a list's confirmed subscribers (the admin API, console and CLI). */
  broadcasts: BroadcastService;
  config: Config;
  redis: RedisClient;
  logger: Logger;
  /** Counters to increment (e.g. `deps.metrics.unsubscribes.inc()`) and the /metrics registry. */
  metrics: Metrics;
  /** The mail queue: its job counts on /metrics, and the admins' read-only dashboard. */
  queue: Queue<MailJob>;
}

/** What every console router gets: the app's parts, and the console's way of answering (behind its one guard). */
export interface ConsoleContext extends ConsolePageTools {
  deps: AppDeps;
}

/**
 * One line per router. `public` routers are mounted at the root, `api` routers at /admin/api
 * behind the admin guard (bearer token or console session), `console` routers at /admin behind
 * the console's sign-in. An `ownBody` router reads its body itself (signatures over the raw
 * bytes, or bodies bigger than the 16 kB forms), so it comes before the common body parsers.
 */
type RouteEntry =
  | { at: 'public' | 'api'; routes: (deps: AppDeps) => Router; ownBody?: true }
  | { at: 'console'; routes: (context: ConsoleContext) => Router };

/** Every route of the service, in the order a request meets them. */
const ROUTES: readonly RouteEntry[] = [
  // GET /healthz, /readyz, /metrics (unless METRICS_PORT serves it)
  { at: 'public', routes: monitoring.publicRoutes, ownBody: true },
  // POST /webhooks/:provider (bounces and complaints; signed over the raw body)
  { at: 'public', routes: bounces.publicRoutes, ownBody: true },
  // /admin/api: GET /lists/:slug/subscribers(.csv), POST /lists/:slug/mailable (up to 1000 addresses), GET|DELETE /contacts/:email, GET /contacts/:email/export
  { at: 'api', routes: subscribers.apiRoutes, ownBody: true },
  // POST /subscribe, GET /thanks, GET|POST /confirm, POST /confirm/it-was-me, GET /lists/:slug/form (the signup form snippet)
  { at: 'public', routes: signup.publicRoutes },
  // GET|POST /unsubscribe (and one-click), POST /resubscribe, POST /unsubscribe/reason
  { at: 'public', routes: optout.publicRoutes },
  // GET|POST /preferences, POST /preferences/export|erase|reason
  { at: 'public', routes: preferences.publicRoutes },
  // /admin: GET / (dashboard), /queues (BullMQ, read-only)
  { at: 'console', routes: dashboard.consoleRoutes },
  // /admin: GET|POST /suppressions, POST /suppressions/import, POST /suppressions/:id/lift
  { at: 'console', routes: suppression.consoleRoutes },
  // /admin: GET /lists/:slug (its subscribers), GET /contacts, POST /contacts/erase
  { at: 'console', routes: subscribers.consoleRoutes },
  // /admin: GET|POST /lists, GET|POST /lists/:slug/edit, POST /lists/:slug/archive
  { at: 'console', routes: lists.consoleRoutes },
  // /admin: GET|POST /lists/:slug/consent
  { at: 'console', routes: consent.consoleRoutes },
  // /admin: GET /reasons
  { at: 'console', routes: optout.consoleRoutes },
  // /admin/broadcasts: GET|POST /, GET /:id, /:id/preview, POST /:id/test|send|pause|resume|cancel
  { at: 'console', routes: broadcasts.consoleRoutes },
  // /admin/webhooks: GET|POST /, GET /:id, POST /:id/enable|disable|delete, /:id/deliveries/:deliveryId/retry
  { at: 'console', routes: webhooksOut.consoleRoutes },
  // /admin: GET /sending (DNS records for SPF, DKIM, DMARC)
  { at: 'console', routes: sending.consoleRoutes },
  // /admin/api: GET|POST /lists, GET|PATCH|DELETE /lists/:slug
  { at: 'api', routes: lists.apiRoutes },
  // /admin/api: GET|PUT /lists/:slug/consent
  { at: 'api', routes: consent.apiRoutes },
  // /admin/api: GET /reasons
  { at: 'api', routes: optout.apiRoutes },
  // /admin/api/broadcasts: GET|POST /, GET /:id, POST /:id/test|send|pause|resume|cancel
  { at: 'api', routes: broadcasts.apiRoutes },
  // /admin/api: GET /stats
  { at: 'api', routes: dashboard.apiRoutes },
  // /admin/api: GET|POST /suppressions, DELETE /suppressions/:id, GET /suppressions.csv, POST /suppressions/import
  { at: 'api', routes: suppression.apiRoutes },
  // /admin/api/webhook-endpoints: GET|POST /, GET|PATCH|DELETE /:id, GET /:id/deliveries, POST /:id/deliveries/:deliveryId/retry
  { at: 'api', routes: webhooksOut.apiRoutes },
];

/** Bodies are small forms; anything bigger is refused before it is read. */
const BODY_LIMIT = '16kb';
const BODY_LIMIT_BYTES = 16 * 1024;
const ACCEPTED_BODY_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'];

/**
 * RFC 8058 one-click opt-out: the token is in the URL, so the opt-out works whatever the body a
 * mail client (or anything else) sends: none, text/plain, another type, or one that cannot be read.
 */
const isOneClick = (req: Request) => req.method === 'POST' && req.path === '/unsubscribe';

/** `Content-Length: 0` (what `fetch(url, {method: 'POST'})` sends): no body, so no type to refuse. */
const hasEmptyBody = (req: Request) => req.headers['content-length'] === '0' && req.headers['transfer-encoding'] === undefined;

const refuseUnsupportedBodies: RequestHandler = (req, _res, next) => {
  if (req.method === 'POST' && !hasEmptyBody(req) && !isOneClick(req) && req.is(ACCEPTED_BODY_TYPES) === false) {
    next(new AppError(415, 'unsupported_media_type', `Send the body as ${ACCEPTED_BODY_TYPES.slice(0, 2).join(' or ')}.`));
    return;
  }
  next();
};

/** A one-click opt-out whose body could not be read goes on without it (see isOneClick). */
const oneClickIgnoresBodyErrors: ErrorRequestHandler = (error, req, _res, next) => {
  const bodyType = (error as { type?: unknown }).type;
  if (isOneClick(req) && typeof bodyType === 'string' && BODY_ERRORS[bodyType]) {
    req.body = undefined;
    next();
    return;
  }
  next(error);
};

/**
 * A path whose percent-escapes do not decode (`/lists/%ZZ/form`) is the client's mistake: a 400
 * in the one error shape, before any router's parameter decoding throws (which was a 500, logged
 * with its stack).
 */
const refuseMalformedPaths: RequestHandler = (req, _res, next) => {
  try {
    decodeURIComponent(req.path);
  } catch {
    next(new AppError(400, 'invalid_path', 'The address has a malformed percent-escape (% followed by two hexadecimal digits).'));
    return;
  }
  next();
};

/** body-parser signals its refusals through error.type; each gets a clear 4xx. */
const BODY_ERRORS: Record<string, AppError> = {
  'entity.too.large': new AppError(413, 'payload_too_large', `The request body is larger than ${BODY_LIMIT}.`),
  'entity.parse.failed': new AppError(400, 'invalid_body', 'The request body could not be parsed.'),
  'entity.verify.failed': new AppError(400, 'invalid_body', 'The request body could not be verified.'),
  'encoding.unsupported': new AppError(415, 'unsupported_encoding', 'The body encoding is not supported.'),
  'charset.unsupported': new AppError(415, 'unsupported_charset', 'Send the body as UTF-8.'),
  'parameters.too.many': new AppError(413, 'too_many_fields', 'The form has too many fields.'),
  'request.aborted': new AppError(400, 'request_aborted', 'The request was aborted.'),
  'request.size.invalid': new AppError(400, 'invalid_body', 'The request body is shorter or longer than announced.'),
  'stream.encoding.set': new AppError(500, 'internal_error', 'Something went wrong on our side.'),
};

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Decides which address req.ip (rate limits, consent proof) is: never a blind `true`.
  app.set('trust proxy', deps.config.trustProxy);
  setPageSite(app, deps.config.site);
  app.use(securityHeaders());
  app.use(requestLogger(deps.logger));
  app.use(refuseMalformedPaths);
  // First, so that every answer to another site's signup (a refusal too) carries its CORS headers.
  app.use('/subscribe', signupCors(deps.config.allowedOrigins));

  // One counter of failed admin sign-ins and bearer tokens, for the console and the API alike.
  const authLimit = adminAuthLimit(
    deps.redis,
    { failuresPer15m: deps.config.adminAuthFailuresPer15m, keyPrefix: deps.config.queuePrefix },
    deps.logger,
  );
  // The one guard of the admin API: before any of its routers reads a body.
  app.use('/admin/api', requireAdmin({ config: deps.config, database: deps.database, authLimit }));

  const mount = (entry: RouteEntry) => {
    if (entry.at === 'public') app.use(entry.routes(deps));
    else if (entry.at === 'api') app.use('/admin/api', entry.routes(deps));
  };
  for (const entry of ROUTES) if (entry.at !== 'console' && entry.ownBody) mount(entry);

  app.use(refuseUnsupportedBodies);
  // A broadcast's body is a letter, not a form: its routes read bigger bodies (before the 16 kB parsers).
  app.use(['/admin/api/broadcasts', '/admin/broadcasts'], broadcasts.bodyParsers());
  app.use(express.json({ limit: BODY_LIMIT, strict: true }));
  app.use(express.urlencoded({ limit: BODY_LIMIT, extended: false, parameterLimit: 50 }));
  app.use(oneClickIgnoresBodyErrors);
  // A signup form may post multipart/form-data; elsewhere such bodies are read by their own routes (CSV import) or not at all.
  app.use('/subscribe', multipartFields({ bytes: BODY_LIMIT_BYTES, fields: 50 }));

  for (const entry of ROUTES) if (entry.at === 'public' && !entry.ownBody) mount(entry);
  app.use(
    '/admin',
    consoleFrame(deps, authLimit, (tools) => ROUTES.flatMap((entry) => (entry.at === 'console' ? [entry.routes({ deps, ...tools })] : []))),
  );
  for (const entry of ROUTES) if (entry.at === 'api' && !entry.ownBody) mount(entry);
  app.use('/admin/api', (_req, _res, next) => next(new AppError(404, 'not_found', 'There is no admin API route at this address.')));

  app.use(notFound);
  app.use(handleErrors(deps));
  return app;
}

/** The listener of METRICS_PORT: /metrics and nothing else. */
export function createMetricsApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders());
  app.use(requestLogger(deps.logger));
  app.use(refuseMalformedPaths);
  app.use(monitoring.metricsRoutes(deps));
  app.use(notFound);
  app.use(handleErrors(deps));
  return app;
}

const notFound: RequestHandler = (req, res) => sendError(req, res, new AppError(404, 'not_found', 'There is nothing at this address.'));

function handleErrors(deps: Pick<AppDeps, 'logger'>): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const bodyType = (error as { type?: unknown }).type;
    if (typeof bodyType === 'string' && BODY_ERRORS[bodyType]) {
      sendError(req, res, BODY_ERRORS[bodyType]);
      return;
    }
    if (error instanceof AppError) {
      sendError(req, res, error);
      return;
    }
    // A query error's message carries its parameters (addresses among them): logged without them.
    (req.log ?? deps.logger).error({ err: loggableError(error) }, 'unhandled error');
    sendError(req, res, new AppError(500, 'internal_error', 'Something went wrong on our side. Please try again.'));
  };
}
