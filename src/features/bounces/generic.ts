import { z } from 'zod';
import type { ProviderEvent } from './service.js';
import { freshTimestamp, hmacHex, sameDigest } from './signatures.js';

export const GENERIC_SIGNATURE_HEADER = 'x-optin-signature';

/**
 * The generic format's signature: header `X-Optin-Signature: t=<unix seconds>,v1=<hex>` where
 * hex = HMAC-SHA256(WEBHOOK_SECRET, "<t>.<raw body>").
 */
export function verifyGenericSignature(secret: string, header: string | undefined, rawBody: Buffer, now = Date.now()): boolean {
  if (!header) return false;
  const parts = new Map(header.split(',').map((part) => part.trim().split('=', 2) as [string, string]));
  const t = parts.get('t');
  const v1 = parts.get('v1');
  if (!t || !v1 || !/^\d+$/.test(t) || !freshTimestamp(Number(t), now)) return false;
  return sameDigest(hmacHex(secret, Buffer.concat([Buffer.from(`${t}.`), rawBody])), v1);
}

export function signGenericPayload(secret: string, rawBody: string, now = Date.now()): string {
  const t = Math.floor(now / 1000);
  return `t=${t},v1=${hmacHex(secret, `${t}.${rawBody}`)}`;
}

const genericEvent = z.object({
  id: z.string().min(1).max(200),
  type: z.enum(['hard_bounce', 'soft_bounce', 'complaint']).or(z.string().min(1).max(64)),
  email: z.string().min(1).max(1024),
  reason: z.string().max(1000).optional(),
});
const genericBody = z.object({ events: z.array(genericEvent).min(1).max(1000) });

/** `{"events":[{"id","type":"hard_bounce"|"soft_bounce"|"complaint"|…,"email","reason"?}]}`; null when malformed. */
export function parseGenericEvents(body: unknown): ProviderEvent[] | null {
  const parsed = genericBody.safeParse(body);
  if (!parsed.success) return null;
  return parsed.data.events.map((event) => ({
    id: event.id,
    kind: event.type === 'hard_bounce' || event.type === 'soft_bounce' || event.type === 'complaint' ? event.type : 'other',
    email: event.email,
    detail: event.reason ?? event.type,
  }));
}
