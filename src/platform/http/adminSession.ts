import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { eq, lt } from 'drizzle-orm';
import type { Config } from '../../config.js';
import type { Database, Scope } from '../db/database.js';
import { AppError } from '../../errors.js';

/**
 * The console's sign-in: a signed, expiring cookie (HMAC with the service secret, so no server
 * store for live sessions). The signature also covers a digest of ADMIN_TOKEN: changing the
 * token signs everyone out. Signing out records the session as revoked until it would expire.
 */
export const SESSION_COOKIE = 'optin_admin';
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

type SessionConfig = Pick<Config, 'adminToken' | 'secrets' | 'publicUrl'>;

export interface AdminSession {
  id: string;
  expiresAt: number;
}

const mac = (secret: string, text: string) => createHmac('sha256', secret).update(text).digest('base64url');

function sessionMac(secret: string, adminToken: string, payload: string): string {
  const tokenDigest = createHash('sha256').update(adminToken).digest('base64url');
  return mac(secret, `admin-session:${payload}:${tokenDigest}`);
}

/** Compares two MACs; both are fixed-length base64url text, so a plain loop is constant-time. */
function sameMac(given: string, expected: string): boolean {
  if (given.length !== expected.length) return false;
  let difference = 0;
  for (let i = 0; i < given.length; i += 1) difference |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return difference === 0;
}

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

function cookieAttributes(config: SessionConfig, maxAgeSeconds: number): string {
  const secure = config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `Path=/admin; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

export function startSession(res: Response, config: SessionConfig & { adminToken: string }, now = Date.now()): void {
  const payload = `${now + SESSION_TTL_MS}.${randomBytes(16).toString('base64url')}`;
  const value = `${payload}.${sessionMac(config.secrets[0]!, config.adminToken, payload)}`;
  res.append('Set-Cookie', `${SESSION_COOKIE}=${value}; ${cookieAttributes(config, SESSION_TTL_MS / 1000)}`);
}

export function endSession(res: Response, config: SessionConfig): void {
  res.append('Set-Cookie', `${SESSION_COOKIE}=; ${cookieAttributes(config, 0)}`);
}

/** The session the request's cookie proves, if it is well signed, not expired and not signed out. */
export async function readSession(req: Request, config: SessionConfig, scope: Scope, now = Date.now()): Promise<AdminSession | undefined> {
  if (!config.adminToken) return undefined;
  const match = /^(\d{1,16})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/.exec(cookieValue(req, SESSION_COOKIE) ?? '');
  if (!match) return undefined;
  const [, expires, id, signature] = match as unknown as [string, string, string, string];
  const payload = `${expires}.${id}`;
  if (!config.secrets.some((secret) => sameMac(signature, sessionMac(secret, config.adminToken!, payload)))) return undefined;
  if (Number(expires) <= now) return undefined;
  const { revokedAdminSessions } = scope.tables;
  const [revoked] = await scope.db
    .select({ id: revokedAdminSessions.sessionId })
    .from(revokedAdminSessions)
    .where(eq(revokedAdminSessions.sessionId, id));
  if (revoked) return undefined;
  return { id, expiresAt: Number(expires) };
}

/**
 * Signs a session out on the server: a copy of its cookie (a shared computer, a proxy log) no
 * longer works. Revocations of sessions that have expired anyway are swept at the same time.
 * Two sign-outs of one session at once (two processes) both succeed: the insert does nothing on a conflict.
 */
export async function revokeSession(database: Database, session: AdminSession, now = Date.now()): Promise<void> {
  await database.transaction(async (tx) => {
    const { revokedAdminSessions } = tx.tables;
    await tx.db.delete(revokedAdminSessions).where(lt(revokedAdminSessions.expiresAt, now));
    await tx.db.insert(revokedAdminSessions).values({ sessionId: session.id, expiresAt: session.expiresAt }).onConflictDoNothing();
  });
}

/** The anti-CSRF token of a session: forms carry it, and a cross-site page cannot read it. */
export function csrfToken(config: Pick<Config, 'secrets'>, session: AdminSession): string {
  return mac(config.secrets[0]!, `csrf:${session.id}`);
}

function allowedOrigins(req: Request, config: SessionConfig): string[] {
  return [new URL(config.publicUrl).origin, `${req.protocol}://${req.get('host') ?? ''}`];
}

/**
 * A cookie-authenticated change must come from our own pages: the Origin header, when the
 * browser sends one, names this site, and the session's CSRF token is in the form field, the
 * query or the X-CSRF-Token header.
 */
export function checkCsrf(req: Request, config: SessionConfig, session: AdminSession): void {
  const origin = req.get('origin');
  if (origin !== undefined && !allowedOrigins(req, config).includes(origin)) {
    throw new AppError(403, 'cross_site_request', 'This request came from another site and was refused.');
  }
  const body: unknown = req.body;
  const fromBody = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[CSRF_FIELD] : undefined;
  const given = [fromBody, req.query[CSRF_FIELD], req.get(CSRF_HEADER)].find((value) => typeof value === 'string' && value !== '');
  const valid = typeof given === 'string' && config.secrets.some((secret) => sameMac(given, mac(secret, `csrf:${session.id}`)));
  if (!valid)
    throw new AppError(403, 'invalid_csrf_token', 'The form has expired or did not come from this site. Reload the page and try again.');
}

export const isSafeMethod = (method: string) => method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
