import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * 'preferences' names a subscription too: the preference centre of its contact (a contact's
 * subscriptions all lead to the same page, and the token dies with the contact on erasure).
 * 'erase' and 'export' are the one-time links mailed to the address itself when its data is
 * to be erased or downloaded: short-lived, so a forwarded preference link cannot do either.
 */
export type TokenPurpose = 'confirm' | 'unsubscribe' | 'preferences' | 'erase' | 'export';

export const CONFIRM_TOKEN_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** How long a link to erase or download one's data works, and so how long after the request it may still be mailed. */
export const DATA_LINK_TTL_MS = 30 * 60_000;

export interface TokenClaims {
  purpose: TokenPurpose;
  subscriptionId: number;
  /** Milliseconds since the epoch; 0 means the token never expires. */
  expiresAt: number;
  /**
   * The broadcast whose message carried the link (unsubscribe links of broadcasts only), so an
   * opt-out through it is counted for that broadcast. Signed like the rest; absent in every other token.
   */
  broadcastId?: number;
}

export type TokenCheck =
  { ok: true; claims: TokenClaims } | { ok: false; reason: 'malformed' | 'bad_signature' | 'wrong_purpose' | 'expired' };

/** A short, public fingerprint of a key, so a token names the key that signed it. */
function keyId(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url').slice(0, 6);
}

function sign(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(`token:${payload}`).digest();
}

/**
 * Token layout: base64url("kid.purpose.subscriptionId.expiresAt[.broadcastId]") "." base64url(HMAC-SHA256).
 * The first secret signs; verification picks the secret whose key id the token names,
 * so old links keep working while a retired key stays in the SECRET list.
 */
export function createToken(secrets: readonly string[], claims: TokenClaims): string {
  const secret = secrets[0];
  if (!secret) throw new Error('no signing secret configured');
  const fields = [keyId(secret), claims.purpose, claims.subscriptionId, claims.expiresAt];
  if (claims.broadcastId !== undefined) fields.push(claims.broadcastId);
  const payload = fields.join('.');
  return `${Buffer.from(payload).toString('base64url')}.${sign(secret, payload).toString('base64url')}`;
}

export function verifyToken(
  secrets: readonly string[],
  token: string,
  expectedPurpose: TokenPurpose,
  now: number = Date.now(),
): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 2 || !/^[A-Za-z0-9_-]{1,200}$/.test(parts[0]!) || !/^[A-Za-z0-9_-]{43}$/.test(parts[1]!)) {
    return { ok: false, reason: 'malformed' };
  }
  const payload = Buffer.from(parts[0]!, 'base64url').toString('utf8');
  const fields = payload.split('.');
  // Four fields; a broadcast's unsubscribe link adds a fifth (its broadcast), older links have none.
  if (fields.length !== 4 && fields.length !== 5) return { ok: false, reason: 'malformed' };
  const [kid, purpose, subscriptionIdText, expiresAtText, broadcastIdText] = fields as [string, string, string, string, string | undefined];
  if (!/^[1-9][0-9]{0,15}$/.test(subscriptionIdText) || !/^(0|[1-9][0-9]{0,15})$/.test(expiresAtText)) {
    return { ok: false, reason: 'malformed' };
  }
  if (broadcastIdText !== undefined && !/^[1-9][0-9]{0,15}$/.test(broadcastIdText)) return { ok: false, reason: 'malformed' };
  const secret = secrets.find((candidate) => keyId(candidate) === kid);
  const given = Buffer.from(parts[1]!, 'base64url');
  // Without a matching key, still compare against something so timing does not tell the difference.
  const expected = sign(secret ?? secrets[0] ?? '', payload);
  if (!secret || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad_signature' };
  }
  if (purpose !== expectedPurpose) return { ok: false, reason: 'wrong_purpose' };
  const expiresAt = Number(expiresAtText);
  if (expiresAt !== 0 && expiresAt <= now) return { ok: false, reason: 'expired' };
  const claims: TokenClaims = { purpose, subscriptionId: Number(subscriptionIdText), expiresAt };
  if (broadcastIdText !== undefined) claims.broadcastId = Number(broadcastIdText);
  return { ok: true, claims };
}

/** What a broadcast test copy's unsubscribe link names: the address it was sent to, and the broadcast. */
export interface TestCopyClaims {
  /** The canonical address (lower-cased), as the suppression list keys it. */
  emailKey: string;
  broadcastId: number;
}

const TEST_COPY_PURPOSE = 'test-copy';

/** The key a test copy's address is sealed with: derived from the signing secret, never the secret itself. */
function sealingKey(secret: string): Buffer {
  return createHash('sha256').update(`test-copy-address:${secret}`).digest();
}

/**
 * The unsubscribe token of a broadcast's test copy, sent to an address that is on no list and so
 * has no subscription to name. It carries the address itself, sealed (AES-256-GCM), so the link
 * works and suppresses that address, while the URL (in a browser's history, a proxy's log) does
 * not show it. Layout: base64url("kid.test-copy.broadcastId.sealed") "." base64url(HMAC), which
 * verifyToken refuses for any purpose (its fourth field is no expiry).
 */
export function createTestCopyToken(secrets: readonly string[], claims: TestCopyClaims): string {
  const secret = secrets[0];
  if (!secret) throw new Error('no signing secret configured');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(secret), iv);
  const sealed = Buffer.concat([iv, cipher.update(claims.emailKey, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url');
  const payload = [keyId(secret), TEST_COPY_PURPOSE, claims.broadcastId, sealed].join('.');
  return `${Buffer.from(payload).toString('base64url')}.${sign(secret, payload).toString('base64url')}`;
}

/** The claims of a test copy's token, or null for anything else (another purpose, a forgery, a retired key). */
export function verifyTestCopyToken(secrets: readonly string[], token: unknown): TestCopyClaims | null {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 2 || !/^[A-Za-z0-9_-]{1,600}$/.test(parts[0]!) || !/^[A-Za-z0-9_-]{43}$/.test(parts[1]!)) return null;
  const payload = Buffer.from(parts[0]!, 'base64url').toString('utf8');
  const fields = payload.split('.');
  if (fields.length !== 4 || fields[1] !== TEST_COPY_PURPOSE || !/^[1-9][0-9]{0,15}$/.test(fields[2]!)) return null;
  const secret = secrets.find((candidate) => keyId(candidate) === fields[0]);
  const given = Buffer.from(parts[1]!, 'base64url');
  const expected = sign(secret ?? secrets[0] ?? '', payload);
  if (!secret || given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const sealed = Buffer.from(fields[3]!, 'base64url');
  if (sealed.length < 12 + 16 + 1) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(secret), sealed.subarray(0, 12));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const emailKey = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]).toString('utf8');
    return { emailKey, broadcastId: Number(fields[2]) };
  } catch {
    return null;
  }
}
