import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { receivesExactly, smtpRecipientsOf } from '../../src/platform/mail/envelope.js';
import { parseAddress } from '../../src/platform/mail/address.js';

describe('address canonicalisation', () => {
  it('trims, lower-cases the domain and keeps the local part as typed', () => {
    expect(parseAddress('  Ann.Smith@Example.COM ')).toEqual({
      ok: true,
      address: { email: 'Ann.Smith@example.com', emailKey: 'ann.smith@example.com', domain: 'example.com' },
    });
  });

  it('turns an internationalised domain into punycode', () => {
    const result = parseAddress('jörg@Bücher.de');
    expect(result.ok).toBe(false); // a non-ASCII local part needs SMTPUTF8, which we do not promise
    expect(parseAddress('joerg@Bücher.de')).toMatchObject({ ok: true, address: { email: 'joerg@xn--bcher-kva.de' } });
  });

  it.each([
    ['', 'required'],
    ['plainaddress', '"@"'],
    ['a@b', 'not a valid'],
    ['a@localhost', 'not a valid'],
    ['two@@example.com', ''],
    ['a b@example.com', 'not a valid'],
    ['x@example.com\r\nBcc: victim@example.com', 'control characters'],
    ['x@exa\u0000mple.com', 'control characters'],
    [`${'a'.repeat(65)}@example.com`, '64'],
    [`a@${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.${'e'.repeat(60)}.ffffffffff.com`, '254'],
    ['a@b.com, c@d.com', 'not a valid'],
    ['Name <a@b.com>', ''],
    // Spellings that a mail library unquotes, unescapes or trims into another local part.
    ['"ann"@example.com', 'quotes'],
    ['" ann"@example.com', 'quotes'],
    ['"a\\nn"@example.com', 'quotes'],
    ['"a b"@example.com', 'quotes'],
    ['"ann@example.com', 'quotes'],
    ['a\\nn@example.com', 'not a valid'],
    ['ann .x@example.com', 'not a valid'],
    ['.ann@example.com', 'not a valid'],
    ['ann.@example.com', 'not a valid'],
  ])('refuses %j', (input, hint) => {
    const result = parseAddress(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toContain(hint);
  });

  it('compares addresses without regard to case', () => {
    const a = parseAddress('Ann@EXAMPLE.com');
    const b = parseAddress('ANN@example.COM');
    expect(a.ok && b.ok && a.address.emailKey === b.address.emailKey).toBe(true);
  });

  it('accepts only addresses that SMTP receives exactly as their key (property)', () => {
    const localChar = fc.constantFrom(...'aZ9.!#$%&\'*+-/=?^_`{|}~" \\@()<>,;:[]é\t'.split(''));
    const domain = fc.constantFrom('example.com', 'Example.COM', 'bücher.de', 'example.com.', 'xn--bcher-kva.de', '[127.0.0.1]');
    fc.assert(
      fc.property(fc.string({ unit: localChar, minLength: 1, maxLength: 12 }), domain, (local, d) => {
        const parsed = parseAddress(`${local}@${d}`);
        if (!parsed.ok) return;
        expect(smtpRecipientsOf(parsed.address.email)).toEqual([parsed.address.email]);
        expect(receivesExactly(parsed.address)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('knows a stored quoted spelling would reach another mailbox', () => {
    expect(smtpRecipientsOf('" ann"@example.com')).toEqual(['ann@example.com']);
    expect(receivesExactly({ email: '"ann"@example.com', emailKey: '"ann"@example.com' })).toBe(false);
    expect(receivesExactly({ email: 'Ann@example.com', emailKey: 'ann@example.com' })).toBe(true);
    expect(receivesExactly({ email: 'Ann@example.com', emailKey: 'bob@example.com' })).toBe(false);
  });
});
