import { z } from 'zod';
import type { ProviderEvent, SignatureToken } from './service.js';
import { freshTimestamp, hmacHex, sameDigest, SIGNATURE_TOLERANCE_SECONDS } from './signatures.js';

/**
 * Mailgun's webhook body (JSON): `{"signature":{"timestamp","token","signature"},"event-data":{…}}`.
 * The signature is hex HMAC-SHA256 of timestamp + token, keyed with the webhook signing key.
 * https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/#securing-webhooks
 */
const mailgunSignature = z.object({
  timestamp: z.string().regex(/^\d+$/),
  token: z.string().min(1).max(200),
  signature: z.string().min(1).max(200),
});
const mailgunBody = z.object({
  signature: mailgunSignature,
  'event-data': z.looseObject({
    id: z.string().min(1).max(200),
    event: z.string().min(1).max(64),
    severity: z.string().optional(),
    recipient: z.string().min(1).max(1024),
    reason: z.string().optional(),
    'delivery-status': z
      .looseObject({ code: z.number().optional(), message: z.string().optional(), description: z.string().optional() })
      .optional(),
  }),
});

export type MailgunPayload = z.infer<typeof mailgunBody>;

export function parseMailgunPayload(body: unknown): MailgunPayload | null {
  const parsed = mailgunBody.safeParse(body);
  return parsed.success ? parsed.data : null;
}

/** Checks the body's `signature` block; anything missing or malformed is simply not verified. */
export function verifyMailgunSignature(signingKey: string, body: unknown, now = Date.now()): boolean {
  const parsed = mailgunSignature.safeParse((body as { signature?: unknown } | null)?.signature);
  if (!parsed.success) return false;
  const signature = parsed.data;
  if (!freshTimestamp(Number(signature.timestamp), now)) return false;
  return sameDigest(hmacHex(signingKey, signature.timestamp + signature.token), signature.signature);
}

/**
 * The signature's token, to be used once: the signature covers only timestamp + token, so the
 * same block could be sent again with other event data while it is fresh. Mailgun's advice is
 * to remember tokens and refuse a repeat; past the tolerance the timestamp refuses it anyway.
 */
export function mailgunSignatureToken(payload: MailgunPayload): SignatureToken {
  return { token: payload.signature.token, expiresAt: (Number(payload.signature.timestamp) + SIGNATURE_TOLERANCE_SECONDS) * 1000 };
}

/** "failed" with severity "permanent" is a hard bounce, "temporary" a soft one; "complained" a complaint. */
export function mailgunEvent(payload: MailgunPayload): ProviderEvent {
  const data = payload['event-data'];
  const status = data['delivery-status'];
  const detail = [data.event, data.severity, data.reason, status?.code, status?.message || status?.description].filter(Boolean).join(' ');
  let kind: ProviderEvent['kind'] = 'other';
  if (data.event === 'complained') kind = 'complaint';
  else if (data.event === 'failed') kind = data.severity === 'permanent' ? 'hard_bounce' : 'soft_bounce';
  return { id: data.id, kind, email: data.recipient, detail };
}
