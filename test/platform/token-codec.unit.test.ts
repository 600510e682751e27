import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createToken, verifyToken, type TokenPurpose } from '../../src/platform/http/tokens.js';

/*
 * The signed token codec, beyond test/platform/tokens.unit.test.ts (round trip, expiry, wrong
 * purpose, tampering, an older key): forgeries under a key that is not configured, the order
 * of the checks, the key rotation's signing side, and numbers that are signed but not canonical.
 */

const CURRENT = 'codec-secret-current-0123456789';
const OLDER = 'codec-secret-older-0123456789';
const SECRETS = [CURRENT, OLDER];
const PURPOSES: TokenPurpose[] = ['confirm', 'unsubscribe', 'preferences'];

/** A token as the codec lays it out, signed with any key and naming any key id: what a forger can make. */
function forged(signWith: string, payloadFields: (string | number)[]): string {
  const payload = payloadFields.join('.');
  const signature = createHmac('sha256', signWith).update(`token:${payload}`).digest('base64url');
  return `${Buffer.from(payload).toString('base64url')}.${signature}`;
}
const keyIdOf = (secret: string) => createHash('sha256').update(secret).digest('base64url').slice(0, 6);

describe('token purposes', () => {
  it.each(PURPOSES)('a %s token is accepted for its own purpose only', (purpose) => {
    const token = createToken(SECRETS, { purpose, subscriptionId: 5, expiresAt: 0 });
    for (const expected of PURPOSES) {
      expect(verifyToken(SECRETS, token, expected)).toEqual(
        expected === purpose ? { ok: true, claims: { purpose, subscriptionId: 5, expiresAt: 0 } } : { ok: false, reason: 'wrong_purpose' },
      );
    }
  });
});

describe('forgeries', () => {
  it('refuses a token signed with a key that is not configured, even when it names a configured key', () => {
    const stranger = 'codec-secret-stranger-0123456789';
    expect(verifyToken(SECRETS, forged(stranger, [keyIdOf(stranger), 'confirm', 1, 0]), 'confirm')).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyToken(SECRETS, forged(stranger, [keyIdOf(CURRENT), 'confirm', 1, 0]), 'confirm')).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    // The same layout signed with the configured key is accepted: the forgery failed on the key alone.
    expect(verifyToken(SECRETS, forged(CURRENT, [keyIdOf(CURRENT), 'confirm', 1, 0]), 'confirm').ok).toBe(true);
  });

  it('refuses a genuine signature presented under the other configured key’s id', () => {
    const signedByOlder = forged(OLDER, [keyIdOf(CURRENT), 'unsubscribe', 9, 0]);
    expect(verifyToken(SECRETS, signedByOlder, 'unsubscribe')).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('checks the signature before the purpose and the expiry, so a forgery learns nothing from the answer', () => {
    const forgery = forged('codec-secret-stranger-0123456789', [keyIdOf(CURRENT), 'preferences', 1, 1_000]);
    expect(verifyToken(SECRETS, forgery, 'confirm', 2_000)).toEqual({ ok: false, reason: 'bad_signature' });
    // A genuine token that is both expired and of another purpose is answered for its purpose first.
    const genuine = createToken(SECRETS, { purpose: 'preferences', subscriptionId: 1, expiresAt: 1_000 });
    expect(verifyToken(SECRETS, genuine, 'confirm', 2_000)).toEqual({ ok: false, reason: 'wrong_purpose' });
    expect(verifyToken(SECRETS, genuine, 'preferences', 2_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses every token, without throwing, when no key is configured', () => {
    const token = createToken(SECRETS, { purpose: 'confirm', subscriptionId: 1, expiresAt: 0 });
    expect(verifyToken([], token, 'confirm')).toEqual({ ok: false, reason: 'bad_signature' });
    expect(() => createToken([], { purpose: 'confirm', subscriptionId: 1, expiresAt: 0 })).toThrow('no signing secret configured');
  });
});

describe('key rotation', () => {
  it('signs new tokens with the first key only, so they outlive the retirement of the older one', () => {
    const token = createToken(SECRETS, { purpose: 'confirm', subscriptionId: 4, expiresAt: 0 });
    expect(verifyToken([CURRENT], token, 'confirm').ok).toBe(true);
    expect(verifyToken([OLDER], token, 'confirm')).toEqual({ ok: false, reason: 'bad_signature' });
    // Whatever the order the keys are configured in when verifying.
    expect(verifyToken([OLDER, CURRENT], token, 'confirm').ok).toBe(true);
  });
});

describe('expiry', () => {
  it('is exclusive: a token is valid up to the millisecond before expiresAt', () => {
    const token = createToken(SECRETS, { purpose: 'confirm', subscriptionId: 1, expiresAt: 5_000 });
    expect(verifyToken(SECRETS, token, 'confirm', 4_999).ok).toBe(true);
    expect(verifyToken(SECRETS, token, 'confirm', 5_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('defaults to the current time', () => {
    const past = createToken(SECRETS, { purpose: 'confirm', subscriptionId: 1, expiresAt: Date.now() - 1_000 });
    const future = createToken(SECRETS, { purpose: 'confirm', subscriptionId: 1, expiresAt: Date.now() + 60_000 });
    expect(verifyToken(SECRETS, past, 'confirm')).toEqual({ ok: false, reason: 'expired' });
    expect(verifyToken(SECRETS, future, 'confirm').ok).toBe(true);
  });
});

describe('malformed tokens', () => {
  it.each([
    ['a subscription id of 0', { subscriptionId: 0, expiresAt: 0 }],
    ['a negative subscription id', { subscriptionId: -3, expiresAt: 0 }],
    ['a fractional subscription id', { subscriptionId: 1.5, expiresAt: 0 }],
    ['a subscription id of 17 digits', { subscriptionId: 10 ** 16, expiresAt: 0 }],
    ['a negative expiry', { subscriptionId: 1, expiresAt: -1 }],
    ['a broadcast id of 0', { subscriptionId: 1, expiresAt: 0, broadcastId: 0 }],
  ])('refuses %s, though correctly signed', (_what, claims) => {
    const token = createToken(SECRETS, { purpose: 'unsubscribe', ...claims });
    expect(verifyToken(SECRETS, token, 'unsubscribe')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses numbers with leading zeros and extra fields, though correctly signed', () => {
    const kid = keyIdOf(CURRENT);
    expect(verifyToken(SECRETS, forged(CURRENT, [kid, 'confirm', '07', 0]), 'confirm')).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyToken(SECRETS, forged(CURRENT, [kid, 'confirm', 7, '00']), 'confirm')).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyToken(SECRETS, forged(CURRENT, [kid, 'confirm', 7, 0, 1, 2]), 'confirm')).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyToken(SECRETS, forged(CURRENT, [kid, 'confirm', 7]), 'confirm')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a token of the wrong shape before looking at its signature', () => {
    const token = createToken(SECRETS, { purpose: 'confirm', subscriptionId: 1, expiresAt: 0 });
    const [payload, signature] = token.split('.') as [string, string];
    for (const shape of [
      `${payload}.${signature}.x`,
      `${payload}.${signature.slice(1)}`,
      `${payload}=.${signature}`,
      `.${signature}`,
      payload,
    ]) {
      expect(verifyToken(SECRETS, shape, 'confirm'), shape).toEqual({ ok: false, reason: 'malformed' });
    }
  });
});
