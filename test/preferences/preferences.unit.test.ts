import { describe, expect, it } from 'vitest';
import { reasonsChart } from '../../src/features/optout/pages.js';
import { maskIp } from '../../src/features/preferences/pages.js';
import { signupFormSnippet } from '../../src/features/signup/pages.js';
import { consentVersionOf } from '../../src/features/consent/service.js';

describe('consent versions', () => {
  it('are 12 hex digits of the list and the words, whatever the order of the locales', () => {
    const v = consentVersionOf('weekly', { en: 'I agree.', fr: 'J’accepte.' });
    expect(v).toMatch(/^[0-9a-f]{12}$/);
    expect(consentVersionOf('weekly', { fr: 'J’accepte.', en: 'I agree.' })).toBe(v);
    expect(consentVersionOf('monthly', { en: 'I agree.', fr: 'J’accepte.' })).not.toBe(v);
    expect(consentVersionOf('weekly', { en: 'I agree!', fr: 'J’accepte.' })).not.toBe(v);
    expect(consentVersionOf('weekly', 'I agree.')).not.toBe(consentVersionOf('weekly', { en: 'I agree.' }));
  });
});

describe('the person’s pages', () => {
  it('mask IPs down to the network', () => {
    expect(maskIp('203.0.113.7')).toBe('203.0.113.•');
    expect(maskIp('::ffff:127.0.0.1')).toBe('127.0.0.•');
    expect(maskIp('2001:db8:1:2::7')).toBe('2001:db8:1:•');
    expect(maskIp(null)).toBeNull();
  });

  it('the form snippet escapes the statement, never ticks the box, and carries the version', () => {
    const html = signupFormSnippet('en', {
      action: 'https://x.test/subscribe',
      listSlug: 'weekly',
      statement: { version: 'abcdef012345', text: { en: 'I <agree>' }, createdAt: 0 },
    });
    expect(html).toContain('I &lt;agree&gt;');
    expect(html).toContain('name="consent" value="abcdef012345"');
    expect(html).not.toContain('checked');
    expect(signupFormSnippet('en', { action: 'https://x.test/subscribe', listSlug: 'weekly', statement: null })).not.toContain('checkbox');
  });

  it('the reasons chart is one SVG with a bar per reason and day that has answers', () => {
    const zero = { too_many: 0, not_relevant: 0, never_signed_up: 0, other: 0 };
    const svg = reasonsChart({
      counts: { ...zero, too_many: 2, never_signed_up: 1 },
      days: [
        { day: '2026-11-01', ...zero },
        { day: '2026-11-02', ...zero, too_many: 2, never_signed_up: 1 },
      ],
    });
    expect(svg.match(/<rect x=/g)).toHaveLength(2);
    expect(svg).toContain('role="img"');
    expect(svg).not.toContain('<script');
  });
});
