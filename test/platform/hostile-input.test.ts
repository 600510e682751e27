import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { parseAddress } from '../../src/platform/mail/address.js';
import { startTestService, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  // API only: nothing here should ever be mailed, and the outbox is what we inspect.
  t = await startTestService({ roles: ['api'] });
});
afterAll(async () => {
  await t?.stop();
});

interface BadRequest {
  what: string;
  method?: 'GET' | 'POST' | 'PUT';
  path?: string;
  /** A raw body, or an object sent as JSON. */
  body?: string | Record<string, unknown> | unknown[];
  type?: string;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';
const long = (n: number, c = 'a') => c.repeat(n);

const cases: BadRequest[] = [
  // Missing, empty and non-string fields
  { what: 'empty object', body: {}, status: 400, code: 'invalid_email' },
  { what: 'empty email', body: { email: '' }, status: 400, code: 'invalid_email' },
  { what: 'blank email', body: { email: '   ' }, status: 400, code: 'invalid_email' },
  { what: 'null email', body: { email: null }, status: 400, code: 'invalid_email' },
  { what: 'operator object as email', body: { email: { $ne: '' } }, status: 400, code: 'invalid_field' },
  { what: 'array as email', body: { email: ['a@example.com'] }, status: 400, code: 'invalid_field' },
  { what: 'number as email', body: { email: 42 }, status: 400, code: 'invalid_field' },
  { what: 'boolean as email', body: { email: true }, status: 400, code: 'invalid_field' },
  { what: 'array as list', body: { email: 'a@example.com', list: ['default'] }, status: 400, code: 'invalid_field' },
  { what: 'operator object as list', body: { email: 'a@example.com', list: { $gt: '' } }, status: 400, code: 'invalid_field' },
  { what: 'array as locale', body: { email: 'a@example.com', locale: ['en'] }, status: 400, code: 'invalid_field' },
  { what: 'object as name', body: { email: 'a@example.com', name: { first: 'Ann' } }, status: 400, code: 'invalid_field' },
  { what: 'object as honeypot', body: { email: 'a@example.com', website: { x: 1 } }, status: 400, code: 'invalid_field' },
  // Prototype keys are never read as fields
  { what: '__proto__ carrying an email', body: '{"__proto__":{"email":"a@example.com"}}', status: 400, code: 'invalid_email' },
  {
    what: 'constructor.prototype carrying an email',
    body: '{"constructor":{"prototype":{"email":"a@example.com"}}}',
    status: 400,
    code: 'invalid_email',
  },
  { what: '__proto__ as a form field', body: '__proto__=a%40example.com', type: FORM_TYPE, status: 400, code: 'invalid_email' },
  { what: 'constructor as a form field', body: 'constructor=a%40example.com', type: FORM_TYPE, status: 400, code: 'invalid_email' },
  // Broken or wrongly shaped bodies
  { what: 'truncated JSON', body: '{"email":', status: 400, code: 'invalid_body' },
  { what: 'trailing comma', body: '{"email":"a@example.com",}', status: 400, code: 'invalid_body' },
  { what: 'JSON string at top level', body: '"a@example.com"', status: 400, code: 'invalid_body' },
  { what: 'JSON null', body: 'null', status: 400, code: 'invalid_body' },
  { what: 'JSON array', body: '[]', status: 400, code: 'invalid_email' },
  {
    what: 'body over the limit',
    body: JSON.stringify({ email: 'a@example.com', pad: long(20_000) }),
    status: 413,
    code: 'payload_too_large',
  },
  { what: 'text/plain body', body: 'email=a@example.com', type: 'text/plain', status: 415, code: 'unsupported_media_type' },
  { what: 'XML body', body: '<email>a@example.com</email>', type: 'application/xml', status: 415, code: 'unsupported_media_type' },
  {
    what: 'latin1 charset',
    body: '{"email":"a@example.com"}',
    type: 'application/json; charset=latin1',
    status: 415,
    code: 'unsupported_charset',
  },
  {
    what: 'unknown content encoding',
    body: '{"email":"a@example.com"}',
    headers: { 'content-encoding': 'x-unknown' },
    status: 415,
    code: 'unsupported_encoding',
  },
  {
    what: 'too many form fields',
    body: Array.from({ length: 60 }, (_, i) => `f${i}=x`).join('&'),
    type: FORM_TYPE,
    status: 413,
    code: 'too_many_fields',
  },
  { what: 'repeated form field', body: 'email=a%40example.com&email=b%40example.com', type: FORM_TYPE, status: 400, code: 'invalid_field' },
  { what: 'bracketed form field', body: 'email[]=a%40example.com', type: FORM_TYPE, status: 400, code: 'invalid_email' },
  // Control characters: header injection must be impossible
  { what: 'CRLF + Bcc in email', body: { email: 'a@example.com\r\nBcc: victim@example.net' }, status: 400, code: 'invalid_field' },
  { what: 'LF inside the local part', body: { email: 'a\nb@example.com' }, status: 400, code: 'invalid_field' },
  { what: 'NUL in email', body: { email: 'a@example.com\u0000' }, status: 400, code: 'invalid_field' },
  {
    what: 'CRLF + Bcc in a form email',
    body: 'email=a%40example.com%0D%0ABcc%3A%20victim%40example.net',
    type: FORM_TYPE,
    status: 400,
    code: 'invalid_field',
  },
  { what: 'CRLF in name', body: { email: 'a@example.com', name: 'Ann\r\nBcc: victim@example.net' }, status: 400, code: 'invalid_field' },
  { what: 'NUL in name', body: { email: 'a@example.com', name: 'Ann\u0000' }, status: 400, code: 'invalid_field' },
  { what: 'line separator in name', body: { email: 'a@example.com', name: 'Ann\u2028Bcc: x' }, status: 400, code: 'invalid_field' },
  { what: 'C1 next-line in list', body: { email: 'a@example.com', list: 'default\u0085' }, status: 400, code: 'invalid_field' },
  // Addresses that are not addresses
  { what: 'no @', body: { email: 'not-an-address' }, status: 400, code: 'invalid_email' },
  { what: 'no top-level domain', body: { email: 'a@localhost' }, status: 400, code: 'invalid_email' },
  { what: 'display name', body: { email: 'Ann <a@example.com>' }, status: 400, code: 'invalid_email' },
  { what: 'two addresses', body: { email: 'a@example.com, b@example.com' }, status: 400, code: 'invalid_email' },
  { what: 'IP literal domain', body: { email: 'a@[127.0.0.1]' }, status: 400, code: 'invalid_email' },
  { what: '65-octet local part', body: { email: `${long(65)}@example.com` }, status: 400, code: 'invalid_email' },
  { what: '64 octets as 32 two-byte characters + 1', body: { email: `${long(33, 'é')}@example.com` }, status: 400, code: 'invalid_email' },
  {
    what: '255-octet address',
    body: { email: `${long(60)}@${long(60, 'b')}.${long(60, 'c')}.${long(60, 'd')}.${long(10, 'e')}.com` },
    status: 400,
    code: 'invalid_email',
  },
  { what: 'oversized email field', body: { email: `${long(2000)}@example.com` }, status: 400, code: 'field_too_long' },
  // Other fields
  { what: 'path-like locale', body: { email: 'a@example.com', locale: '../../etc/passwd' }, status: 400, code: 'invalid_locale' },
  { what: 'locale with a slash', body: { email: 'a@example.com', locale: 'en/../../templates' }, status: 400, code: 'invalid_locale' },
  { what: 'locale with backslashes', body: { email: 'a@example.com', locale: '..\\..\\windows' }, status: 400, code: 'invalid_locale' },
  { what: 'one-letter locale', body: { email: 'a@example.com', locale: 'e' }, status: 400, code: 'invalid_locale' },
  { what: 'oversized locale', body: { email: 'a@example.com', locale: long(100) }, status: 400, code: 'field_too_long' },
  { what: 'unknown list', body: { email: 'a@example.com', list: 'no-such-list' }, status: 404, code: 'unknown_list' },
  { what: 'path-like list', body: { email: 'a@example.com', list: '../../etc/passwd' }, status: 404, code: 'unknown_list' },
  { what: 'oversized list', body: { email: 'a@example.com', list: long(100) }, status: 400, code: 'field_too_long' },
  { what: 'oversized name', body: { email: 'a@example.com', name: long(200) }, status: 400, code: 'field_too_long' },
  // Other endpoints
  { what: 'confirm without token', method: 'GET', path: '/confirm', status: 400, code: 'missing_token' },
  { what: 'confirm with two tokens', method: 'GET', path: '/confirm?token=a&token=b', status: 400, code: 'missing_token' },
  { what: 'confirm with a bracketed token', method: 'GET', path: '/confirm?token[]=a', status: 400, code: 'missing_token' },
  { what: 'confirm with a garbage token', method: 'GET', path: '/confirm?token=garbage', status: 400, code: 'invalid_token' },
  { what: 'confirm with a huge token', method: 'GET', path: `/confirm?token=${long(6000)}`, status: 400, code: 'invalid_token' },
  {
    what: 'confirm with a CRLF token',
    method: 'GET',
    path: '/confirm?token=a%0D%0ASet-Cookie%3A%20x%3D1',
    status: 400,
    code: 'invalid_token',
  },
  { what: 'POST confirm with an object token', path: '/confirm', body: { token: { $ne: '' } }, status: 400, code: 'missing_token' },
  { what: 'POST confirm with an array token', path: '/confirm', body: { token: ['a', 'b'] }, status: 400, code: 'missing_token' },
  { what: 'POST confirm with broken JSON', path: '/confirm', body: '{"token"', status: 400, code: 'invalid_body' },
  {
    what: 'POST confirm as text/plain',
    path: '/confirm',
    body: 'token=x',
    type: 'text/plain',
    status: 415,
    code: 'unsupported_media_type',
  },
  { what: 'unknown path', method: 'GET', path: '/../../etc/passwd', status: 404, code: 'not_found' },
  { what: 'PUT on subscribe', method: 'PUT', body: { email: 'a@example.com' }, status: 404, code: 'not_found' },
];

async function send(c: BadRequest, accept: string): Promise<Response> {
  const method = c.method ?? 'POST';
  const headers: Record<string, string> = { accept, ...c.headers };
  let body: string | undefined;
  if (c.body !== undefined) {
    body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
    headers['content-type'] = c.type ?? JSON_TYPE;
  }
  return fetch(`${t.url}${c.path ?? '/subscribe'}`, { method, headers, body, redirect: 'manual' });
}

describe('every bad request gets a clear 4xx', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('$what → $status $code', async (c) => {
    const res = await send(c, 'application/json');
    const text = await res.text();
    expect({ status: res.status, body: JSON.parse(text) as unknown }).toEqual({
      status: c.status,
      body: { error: { code: c.code, message: expect.any(String) } },
    });
    expect(text).not.toMatch(/\bat .+:\d+:\d+|node_modules/);
  });

  it('answers browsers with an error page, never a stack trace', async () => {
    // A JSON body asks for JSON; what a browser can send is a form, another type, or a GET.
    const browserCases = cases.filter((c) => c.body === undefined || (c.type !== undefined && !c.type.startsWith(JSON_TYPE)));
    expect(browserCases.length).toBeGreaterThanOrEqual(15);
    for (const c of browserCases) {
      const res = await send(c, 'text/html');
      const html = await res.text();
      expect(res.status, c.what).toBe(c.status);
      expect(res.headers.get('content-type'), c.what).toMatch(/^text\/html/);
      expect(html, c.what).toMatch(new RegExp(`<p class="code">[^<]*\\b${c.code}</p>`));
      expect(html, c.what).not.toMatch(/\bat .+:\d+:\d+|node_modules/);
    }
  });

  it('stored nothing for any of them', async () => {
    const {
      db,
      tables: { contacts, outbox },
    } = t.service.database;
    expect(await db.select().from(contacts)).toEqual([]);
    expect(await db.select().from(outbox)).toEqual([]);
  });
});

describe('property: no string input breaks the signup', () => {
  it('never answers 5xx and never queues mail for an invalid address', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.emailAddress(),
      fc.tuple(fc.emailAddress(), fc.string({ unit: 'binary', maxLength: 6 })).map(([a, b]) => a + b),
      fc.tuple(fc.string({ unit: 'binary', maxLength: 6 }), fc.emailAddress()).map(([a, b]) => a + b),
    );
    const field = fc.option(text, { nil: undefined });
    await fc.assert(
      fc.asyncProperty(
        fc.record({ email: text, list: fc.option(fc.constantFrom('default', '', 'x'), { nil: undefined }), locale: field, name: field }),
        fc.boolean(),
        async (fields, asForm) => {
          const body = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string>;
          const send = () =>
            fetch(`${t.url}/subscribe`, {
              method: 'POST',
              headers: { 'content-type': asForm ? FORM_TYPE : JSON_TYPE, accept: 'application/json' },
              body: asForm ? new URLSearchParams(body).toString() : JSON.stringify(body),
            });
          // A kept-alive socket the server closed just as fetch reused it resets before any answer
          // (seen under load). Sent once more: an input that really breaks the connection does so again.
          const res = await send().catch((error: Error & { cause?: { code?: string } }) => {
            if (error.cause?.code !== 'ECONNRESET') throw error;
            return send();
          });
          await res.arrayBuffer();
          expect(res.status).toBeLessThan(500);
          if (res.status === 202) expect(parseAddress(body.email!).ok).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
    // Whatever got in, every queued confirmation is for an address the parser accepts.
    const {
      db,
      tables: { contacts, outbox, subscriptions },
    } = t.service.database;
    const queued = await db
      .select({ email: contacts.email })
      .from(outbox)
      .innerJoin(subscriptions, eq(subscriptions.id, outbox.subscriptionId))
      .innerJoin(contacts, eq(contacts.id, subscriptions.contactId));
    for (const row of queued) expect(parseAddress(row.email), row.email).toMatchObject({ ok: true, address: { email: row.email } });
  });
});

describe('internationalised domains', () => {
  it('are accepted and stored in their ASCII (punycode) form', async () => {
    const res = await fetch(`${t.url}/subscribe`, {
      method: 'POST',
      headers: { 'content-type': JSON_TYPE, accept: 'application/json' },
      body: JSON.stringify({ email: 'joerg@Bücher.de' }),
    });
    expect(res.status).toBe(202);
    const {
      db,
      tables: { contacts },
    } = t.service.database;
    expect(await db.select().from(contacts).where(eq(contacts.emailKey, 'joerg@xn--bcher-kva.de'))).toMatchObject([
      { email: 'joerg@xn--bcher-kva.de' },
    ]);
  });
});
