import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';

/**
 * Where receivers may be (docs/webhooks.md): in production, only on the public internet, unless
 * WEBHOOK_ALLOW_PRIVATE=true; outside production, anywhere (a receiver on a test network).
 */
export interface WebhookNetworkPolicy {
  production: boolean;
  allowPrivate: boolean;
}

export const blocksPrivate = (policy: WebhookNetworkPolicy) => policy.production && !policy.allowPrivate;

/**
 * Whether an address is on the public internet. The rule request-filtering-agent applies when it
 * connects (ipaddr.js's range "unicast"), so registration and every connection agree: loopback,
 * private, link-local, CGNAT, unique-local, IPv4-mapped IPv6, NAT64, 6to4, multicast, reserved and
 * the unspecified address are all refused.
 */
export function isPublicAddress(address: string): boolean {
  try {
    return ipaddr.parse(address).range() === 'unicast';
  } catch {
    return false;
  }
}

/**
 * Why a URL's host may not be registered while private targets are refused, or null. The URL
 * parser has already turned decimal, octal, hexadecimal and shortened IPv4 spellings
 * (`2130706433`, `0x7f.1`, `127.1`) into dotted form. Names are checked again when connecting
 * (DNS may answer anything, and may change its answer), except this machine's own names.
 */
export function privateHostProblem(hostname: string): string | null {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (isIP(host) !== 0) return isPublicAddress(host) ? null : `${hostname} is not an address on the public internet`;
  if (host === 'localhost' || host.endsWith('.localhost')) return `${hostname} is this machine`;
  return null;
}

/** The agents every attempt goes through: refusing private addresses after each DNS answer, or not at all. */
export interface WebhookAgents {
  http: http.Agent;
  https: https.Agent;
  destroy(): void;
}

/**
 * Node's fetch (undici) ignores an `agent`, so attempts go through node:http(s) with
 * request-filtering-agent's agents: they check an IP in the URL before connecting and every
 * address DNS answers before the socket connects to it, so a name that resolves to a private
 * address (DNS rebinding included) is refused on every connection, not only at registration.
 * Connections are kept alive between attempts, as fetch did.
 */
export function createWebhookAgents(policy: WebhookNetworkPolicy): WebhookAgents {
  const options = { keepAlive: true };
  const agents = blocksPrivate(policy)
    ? { http: new RequestFilteringHttpAgent(options), https: new RequestFilteringHttpsAgent(options) }
    : { http: new http.Agent(options), https: new https.Agent(options) };
  return {
    ...agents,
    destroy() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** What an attempt came to: a status code, or an error as a class (never a raw message: it would make a port scanner). */
export interface PostResult {
  statusCode: number | null;
  error: string | null;
}

/** The classes a failed connection is told as (docs/webhooks.md). */
export const CONNECTION_ERRORS = {
  timeout: 'timeout',
  refused: 'connection refused',
  reset: 'connection reset',
  unreachable: 'network unreachable',
  dns: 'DNS lookup failed',
  tls: 'TLS error',
  private: 'private address refused',
  other: 'connection failed',
} as const;

const TIMED_OUT = 'OPTIN_WEBHOOK_TIMEOUT';

/** A failed connection's class, from its code; request-filtering-agent's refusal has none, only its sentence. */
export function connectionErrorClass(error: unknown): string {
  const code = String((error as { code?: unknown }).code ?? '');
  const message = error instanceof Error ? error.message : '';
  if (code === TIMED_OUT || code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return CONNECTION_ERRORS.timeout;
  if (/^DNS lookup .* is not allowed/.test(message)) return CONNECTION_ERRORS.private;
  if (code === 'ECONNREFUSED') return CONNECTION_ERRORS.refused;
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') return CONNECTION_ERRORS.reset;
  if (['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL'].includes(code)) return CONNECTION_ERRORS.unreachable;
  if (code === 'ENOTFOUND' || code.startsWith('EAI_')) return CONNECTION_ERRORS.dns;
  if (
    code === 'EPROTO' ||
    /^ERR_(TLS|SSL)_/.test(code) ||
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code) ||
    /^ERR_OSSL/.test(code)
  )
    return CONNECTION_ERRORS.tls;
  return CONNECTION_ERRORS.other;
}

/**
 * One POST, never following a redirect (the endpoint is the URL an admin registered, not
 * wherever it points), answered within timeoutMs or counted as a timeout.
 */
export function postOnce(agents: WebhookAgents, url: string, headers: Record<string, string>, body: string, timeoutMs: number) {
  return new Promise<PostResult>((resolve) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    let settled = false;
    const settle = (result: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = (secure ? https : http).request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: secure ? agents.https : agents.http,
      },
      (res) => {
        // The body is not read: drained, so the connection can serve the next attempt.
        res.resume();
        res.on('error', () => {});
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          settle({ statusCode: status, error: null });
          return;
        }
        const location = status >= 300 && status < 400 ? res.headers.location : undefined;
        settle({
          statusCode: status,
          error: location !== undefined ? `HTTP ${status}: redirect to ${location.slice(0, 200)} not followed` : `HTTP ${status}`,
        });
      },
    );
    const timer = setTimeout(() => request.destroy(Object.assign(new Error('no answer in time'), { code: TIMED_OUT })), timeoutMs);
    request.on('error', (error) => settle({ statusCode: null, error: connectionErrorClass(error) }));
    request.end(body);
  });
}
