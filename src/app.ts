import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import type { Database } from './platform/db/database.js';
import { AppError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { MailJob } from './platform/queue/queues.js';
import { loggableError } from './platform/queue/logErrors.js';
import type { SubscriptionService } from './subscriptionService.js';
import { multipartFields } from './platform/http/multipartFields.js';
import { requestLogger } from './platform/http/requestLog.js';
import { sendError, setPageSite } from './platform/http/respond.js';
import { adminConsoleRoutes } from './platform/http/consoleRoutes.js';
import { adminAuthLimit } from './platform/http/adminAuthLimit.js';
import { adminApiRoutes } from './features/suppression/api.js';
import { adminListsRoutes } from './features/lists/api.js';
import { adminSubscriberRoutes } from './features/subscribers/api.js';
import { securityHeaders, signupCors } from './platform/http/security.js';
import { confirmRoutes } from './features/signup/confirmRoutes.js';
import { healthRoutes } from './features/monitoring/health.js';
import { metricsRoutes } from './features/monitoring/metrics.js';
import { subscribeRoutes } from './features/signup/public.js';
import { unsubscribeRoutes } from './features/optout/public.js';
import { preferenceRoutes } from './features/preferences/public.js';
import { adminPreferenceApiRoutes } from './features/consent/api.js';
import { webhookRoutes } from './features/bounces/public.js';
import { adminBroadcastRoutes, broadcastBodyParsers } from './features/broadcasts/api.js';
import type { BroadcastService } from './features/broadcasts/runner.js';

export interface AppDeps {
  /** Reads go through it as a Scope; every write through database.transaction. */
  database: Database;
  /** Signup, confirm, unsubscribe and resubscribe: each hands the outbox rows it wrote to the relay after its commit. */
  subscriptions: SubscriptionService;
  /** Broadcasts to a list's confirmed subscribers (the admin API, console and CLI). */
  broadcasts: BroadcastService;
  config: Config;
  redis: Redis;
  logger: Logger;
  /** Counters to increment (e.g. `deps.metrics.unsubscribes.inc()`) and the /metrics registry. */
  metrics: Metrics;
  /** The mail queue: its job counts on /metrics, and the admins' read-only dashboard. */
  queue: Queue<MailJob>;
}

/** Bodies are small forms; anything bigger is refused before it is read. */
const BODY_LIMIT = '16kb';
const BODY_LIMIT_BYTES = 16 * 1024;
const ACCEPTED_BODY_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'];

const refuseUnsupportedBodies: RequestHandler = (req, _res, next) => {
  if (req.method === 'POST' && req.is(ACCEPTED_BODY_TYPES) === false) {
    next(new AppError(415, 'unsupported_media_type', `Send the body as ${ACCEPTED_BODY_TYPES.slice(0, 2).join(' or ')}.`));
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
  app.use(healthRoutes(deps));
  app.use('/subscribe', signupCors(deps.config.allowedOrigins));
  // With METRICS_PORT set, /metrics is served by createMetricsApp on that port only.
  if (deps.config.metricsPort === undefined) app.use(metricsRoutes(deps));
  // Webhooks read their body raw (signatures cover bytes), so they come before the body parsers.
  app.use(webhookRoutes(deps));
  // One counter of failed admin sign-ins and bearer tokens, for the console and the API alike.
  const authLimit = adminAuthLimit(deps.redis, { failuresPer15m: deps.config.adminAuthFailuresPer15m, keyPrefix: deps.config.queuePrefix }, deps.logger);
  // Before the body parsers: a `mailable` batch of 1000 addresses reads a larger body of its own.
  app.use('/admin/api', adminSubscriberRoutes(deps, authLimit));
  app.use(refuseUnsupportedBodies);
  // A broadcast's body is a letter, not a form: its routes read bigger bodies (before the 16 kB parsers).
  app.use(['/admin/api/broadcasts', '/admin/broadcasts'], broadcastBodyParsers());
  app.use(express.json({ limit: BODY_LIMIT, strict: true }));
  app.use(express.urlencoded({ limit: BODY_LIMIT, extended: false, parameterLimit: 50 }));
  // A signup form may post multipart/form-data; elsewhere such bodies are read by their own routes (CSV import) or not at all.
  app.use('/subscribe', multipartFields({ bytes: BODY_LIMIT_BYTES, fields: 50 }));

  app.use(subscribeRoutes(deps));
  app.use(confirmRoutes(deps));
  app.use(unsubscribeRoutes(deps));
  app.use(preferenceRoutes(deps));
  app.use('/admin', adminConsoleRoutes(deps, authLimit));
  app.use('/admin/api', adminListsRoutes(deps, authLimit));
  app.use('/admin/api', adminPreferenceApiRoutes(deps, authLimit));
  app.use('/admin/api/broadcasts', adminBroadcastRoutes(deps, authLimit));
  app.use('/admin/api', adminApiRoutes(deps, authLimit));

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
  app.use(metricsRoutes(deps));
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
