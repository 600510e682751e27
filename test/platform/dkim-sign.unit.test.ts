import fc from 'fast-check';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkimKey, dkimRecordName, dkimRecordValue, generateDkimKey, type DkimConfig } from '../../src/platform/mail/dkim.js';
import { signMessage } from '../../src/platform/mail/dkimSign.js';
import { startDnsStub, type DnsStub } from '../support/dnsStub.js';

/** optin's own signer, checked by an independent verifier (mailauth) on messages of every shape. */

const rsa = dkimKey('rsa1', generateDkimKey('rsa'));
const ed = dkimKey('ed1', generateDkimKey('ed25519'));
const dkim: DkimConfig = { domain: 'example.com', keys: [rsa, ed] };
let dns: DnsStub;
beforeAll(async () => {
  dns = await startDnsStub({
    [dkimRecordName('rsa1', 'example.com')]: [dkimRecordValue(rsa.privateKey)],
    [dkimRecordName('ed1', 'example.com')]: [dkimRecordValue(ed.privateKey)],
  });
});
afterAll(() => dns?.close());

const verdicts = async (message: Buffer | string) =>
  (await dkimVerify(message, { resolver: dns.resolve })).results.map((r) => r.status.result);

const text = (chars: string, maxLength: number) => fc.string({ unit: fc.constantFrom(...chars), maxLength });
/** A header value with runs of blanks, tabs, non-ASCII bytes and folding in odd places. */
const headerValue = fc
  .array(fc.tuple(text('abcXYZ019.,;<>@=é', 12), fc.constantFrom(' ', '  ', '\t', ' \t ', '\r\n ', '\r\n\t', '')), {
    minLength: 1,
    maxLength: 8,
  })
  .map((parts) =>
    parts
      .map(([word, gap]) => word + gap)
      .join('')
      .replace(/^[\s]+/, 'v')
      .replace(/[\s]+$/, '')
      .replace(/\r\n[ \t]+(?=\r\n|$)/g, ''),
  );
/**
 * A body: lines with blanks at their ends, blank lines at the end, or nothing. It always ends
 * with a line break, as nodemailer ends every message and SMTP carries no other (implementations
 * differ on blanks after the last line break).
 */
const body = fc
  .tuple(fc.array(text('ab z\t€é=', 20), { maxLength: 6 }), fc.integer({ min: 0, max: 3 }))
  .map(([lines, emptyAtEnd]) => (lines.length ? `${lines.join('\r\n')}\r\n` : '') + '\r\n'.repeat(emptyAtEnd));

function message(subject: string, unsubscribe: string, content: string, twoSubjects: boolean): Buffer {
  const head = [
    `From: News <news@example.com>`,
    `To: reader@example.net`,
    `Subject:${subject}`,
    ...(twoSubjects ? [`Subject: second ${subject}`] : []),
    `Date: Thu, 26 Nov 2026 00:00:00 +0000`,
    `Message-ID: <x@example.com>`,
    `List-Unsubscribe: <https://news.example.com/u?${unsubscribe.replace(/\s/g, '')}>`,
    `List-Unsubscribe-Post: List-Unsubscribe=One-Click`,
    `X-Not-Signed: ${unsubscribe}`,
    `MIME-Version: 1.0`,
    `Content-Type: text/plain; charset=utf-8`,
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${content}`);
}

describe('DKIM signing', () => {
  it('verifies, RSA and Ed25519 alike, whatever the blanks, folding, non-ASCII bytes and empty lines', async () => {
    await fc.assert(
      fc.asyncProperty(headerValue, headerValue, body, fc.boolean(), async (subject, unsubscribe, content, twoSubjects) => {
        expect(await verdicts(signMessage(message(subject, unsubscribe, content, twoSubjects), dkim))).toEqual(['pass', 'pass']);
      }),
      { numRuns: 100 },
    );
  });

  it('breaks when a signed header is changed or added on the way, or the body changes', async () => {
    const signed = signMessage(message(' Hello', 'token=abc', 'Body\r\n', false), dkim).toString('latin1');
    expect(await verdicts(signed)).toEqual(['pass', 'pass']);
    // Headers nobody signed may be added (relays add Received).
    expect(await verdicts(`Received: from relay\r\n${signed}`)).toEqual(['pass', 'pass']);
    for (const tampered of [
      signed.replace('List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'List-Unsubscribe-Post: x'),
      signed.replace('Subject: Hello', 'Subject: Hullo'),
      // A second List-Unsubscribe or From, below the first or above everything: each signed name
      // is listed once more than present, so no copy can be added where a verifier would skip it.
      signed.replace('MIME-Version: 1.0', 'MIME-Version: 1.0\r\nList-Unsubscribe: <https://evil.example/u>'),
      `List-Unsubscribe: <https://evil.example/u>\r\n${signed}`,
      `From: someone@evil.example\r\n${signed}`,
      signed.replace('\r\n\r\nBody', '\r\n\r\nBodY'),
    ]) {
      // "fail" for a header, "neutral" (body hash mismatch) for the body: never "pass".
      expect(await verdicts(tampered)).toEqual([expect.stringMatching(/^(fail|neutral)$/), expect.stringMatching(/^(fail|neutral)$/)]);
    }
  });
});
