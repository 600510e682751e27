import express, { Router, type ErrorRequestHandler, type Request } from 'express';
import { AppError } from '../../errors.js';
import { applyProviderEvents, type ProviderEvent, type SignatureToken } from './service.js';
import { GENERIC_SIGNATURE_HEADER, parseGenericEvents, verifyGenericSignature } from './generic.js';
import { mailgunEvent, mailgunSignatureToken, parseMailgunPayload, verifyMailgunSignature } from './mailgun.js';
import type { AppDeps } from '../../app.js';

const WEBHOOK_BODY_LIMIT = '1mb';

const badSignature = () => new AppError(401, 'invalid_signature', 'The webhook signature is missing, stale or wrong.');
const badBody = () => new AppError(400, 'invalid_body', 'The webhook body is not in the expected format.');

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw badBody();
  }
}

/**
 * Verifies the request with the provider's own scheme and returns its events (and the one-time
 * token its signature carries, if any); throws 401 before anything changes.
 */
function verifiedEvents(
  deps: AppDeps,
  provider: string,
  req: Request,
  raw: Buffer,
): { events: ProviderEvent[]; signature?: SignatureToken } {
  if (provider === 'generic' && deps.config.webhookSecret) {
    // The signature covers the raw bytes, so it is checked before the body is even parsed.
    if (!verifyGenericSignature(deps.config.webhookSecret, req.get(GENERIC_SIGNATURE_HEADER), raw)) throw badSignature();
    const events = parseGenericEvents(parseJson(raw));
    if (!events) throw badBody();
    return { events };
  }
  if (provider === 'mailgun' && deps.config.mailgunSigningKey) {
    // Mailgun signs timestamp + token (carried in the body), not the body itself.
    const body = parseJson(raw);
    if (!verifyMailgunSignature(deps.config.mailgunSigningKey, body)) throw badSignature();
    const payload = parseMailgunPayload(body);
    if (!payload) throw badBody();
    return { events: [mailgunEvent(payload)], signature: mailgunSignatureToken(payload) };
  }
  throw new AppError(404, 'unknown_provider', `There is no webhook for "${provider}" (it may not be configured).`);
}

/**
 * Bounce and complaint webhooks. The body is read raw on these routes only (signatures cover
 * bytes), before the app-wide JSON and form parsers.
 */
export function publicRoutes(deps: AppDeps): Router {
  const router = Router();
  router.post('/webhooks/:provider', express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT }), async (req, res) => {
    const provider = String(req.params.provider).toLowerCase();
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const { events, signature } = verifiedEvents(deps, provider, req, raw);
    const result = await applyProviderEvents(deps.database, deps.config.secrets, provider, events, Date.now(), signature);
    for (const kind of result.applied) deps.metrics.webhookEvents.inc({ provider, type: kind });
    req.log?.info({ provider, applied: result.applied.length, duplicates: result.duplicates }, 'webhook events applied');
    res.json({ status: 'ok', applied: result.applied.length, duplicates: result.duplicates });
  });
  // The app-wide answer names the forms' body limit; webhooks have their own.
  const tooLarge: ErrorRequestHandler = (error: { type?: unknown }, _req, _res, next) => {
    next(
      error.type === 'entity.too.large'
        ? new AppError(413, 'payload_too_large', `The webhook body is larger than ${WEBHOOK_BODY_LIMIT}.`)
        : error,
    );
  };
  router.use('/webhooks/:provider', tooLarge);
  return router;
}
