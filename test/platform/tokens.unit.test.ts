import { describe, expect, it } from 'vitest';
import { createTestCopyToken, createToken, verifyTestCopyToken, verifyToken } from '../../src/platform/http/tokens.js';

const secrets = ['first-secret-0123456789', 'older-secret-0123456789'];

describe('signed tokens', () => {
  it('round-trips purpose, subscription and expiry', () => {
    const token = createToken(secrets, { purpose: 'confirm', subscriptionId: 42, expiresAt: 2_000 });
    expect(verifyToken(secrets, token, 'confirm', 1_000)).toEqual({
      ok: true,
      claims: { purpose: 'confirm', subscriptionId: 42, expiresAt: 2_000 },
    });
  });

  it('refuses an expired token, and accepts one that never expires', () => {
    const expiring = createToken(secrets, { purpose: 'confirm', subscriptionId: 1, expiresAt: 2_000 });
    expect(verifyToken(secrets, expiring, 'confirm', 2_000)).toEqual({ ok: false, reason: 'expired' });
    const forever = createToken(secrets, { purpose: 'unsubscribe', subscriptionId: 1, expiresAt: 0 });
    expect(verifyToken(secrets, forever, 'unsubscribe', Number.MAX_SAFE_INTEGER).ok).toBe(true);
  });

  it('refuses a token made for another purpose', () => {
    const token = createToken(secrets, { purpose: 'unsubscribe', subscriptionId: 7, expiresAt: 0 });
    expect(verifyToken(secrets, token, 'confirm')).toEqual({ ok: false, reason: 'wrong_purpose' });
  });

  it('refuses a tampered payload or signature', () => {
    const token = createToken(secrets, { purpose: 'confirm', subscriptionId: 7, expiresAt: 0 });
    const [payload, signature] = token.split('.') as [string, string];
    const otherPayload = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('.7.', '.8.')).toString('base64url');
    expect(verifyToken(secrets, `${otherPayload}.${signature}`, 'confirm')).toEqual({ ok: false, reason: 'bad_signature' });
    const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BA' : 'AA');
    expect(verifyToken(secrets, `${payload}.${flipped}`, 'confirm')).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyToken(secrets, 'garbage', 'confirm')).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyToken(secrets, '', 'confirm')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('verifies tokens signed with an older key while it stays configured, and only then', () => {
    const old = createToken(['older-secret-0123456789'], { purpose: 'confirm', subscriptionId: 3, expiresAt: 0 });
    expect(verifyToken(secrets, old, 'confirm').ok).toBe(true);
    expect(verifyToken(['first-secret-0123456789'], old, 'confirm')).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('seals a test copy’s address: it round-trips, is not readable in the link, and passes for no other purpose', () => {
    const token = createTestCopyToken(secrets, { emailKey: 'editor@example.net', broadcastId: 7 });
    expect(verifyTestCopyToken(secrets, token)).toEqual({ emailKey: 'editor@example.net', broadcastId: 7 });
    expect(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')).not.toContain('editor');
    for (const purpose of ['unsubscribe', 'confirm', 'preferences'] as const) expect(verifyToken(secrets, token, purpose).ok).toBe(false);
    expect(verifyTestCopyToken(secrets, createToken(secrets, { purpose: 'unsubscribe', subscriptionId: 1, expiresAt: 0 }))).toBeNull();
    expect(verifyTestCopyToken(['another-secret-0123456789'], token)).toBeNull();
    const [payload, signature] = token.split('.') as [string, string];
    expect(verifyTestCopyToken(secrets, `${payload}.${signature.slice(0, -2)}AA`)).toBeNull();
    // Another broadcast's number under the same seal is another payload: its signature fails.
    const fields = Buffer.from(payload, 'base64url').toString('utf8').split('.');
    fields[2] = '8';
    expect(verifyTestCopyToken(secrets, `${Buffer.from(fields.join('.')).toString('base64url')}.${signature}`)).toBeNull();
  });
});
