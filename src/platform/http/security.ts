import cors from 'cors';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import { PAGE_STYLE_SOURCE } from './pages.js';

/**
 * Security headers on every answer. Pages have no scripts and one inline stylesheet (allowed by
 * its hash); Referrer-Policy no-referrer keeps tokens in URLs from leaking to other sites.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        styleSrc: [PAGE_STYLE_SOURCE],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
  });
}

/** CORS for fetch-based signup forms on the listed origins; no listed origin, no CORS headers. */
export function signupCors(allowedOrigins: readonly string[]): RequestHandler {
  if (allowedOrigins.length === 0) return (_req, _res, next) => next();
  return cors({
    origin: [...allowedOrigins],
    methods: ['POST'],
    allowedHeaders: ['Content-Type', 'Accept'],
    maxAge: 600,
  });
}
