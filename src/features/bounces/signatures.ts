import { createHmac, timingSafeEqual } from 'node:crypto';

/** Signed requests older (or newer) than this are refused, so a captured request cannot be replayed later. */
export const SIGNATURE_TOLERANCE_SECONDS = 15 * 60;

export function hmacHex(key: string, payload: string | Buffer): string {
  return createHmac('sha256', key).update(payload).digest('hex');
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function freshTimestamp(seconds: number, now = Date.now()): boolean {
  return Number.isFinite(seconds) && Math.abs(now / 1000 - seconds) <= SIGNATURE_TOLERANCE_SECONDS;
}
