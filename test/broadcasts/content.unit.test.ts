import { describe, expect, it } from 'vitest';
import {
  bodySections,
  contentLocale,
  loadBroadcastLayouts,
  plainText,
  renderBroadcast,
  sanitizeBody,
} from '../../src/features/broadcasts/content.js';
import { broadcastLimiter } from '../../src/runtime.js';
import { createToken, verifyToken } from '../../src/platform/http/tokens.js';

const SECRETS = ['unit-secret-0123456789abcdef'];

describe('broadcast unsubscribe tokens', () => {
  it('name the broadcast, signed; tokens without one stay valid', () => {
    const withBroadcast = createToken(SECRETS, { purpose: 'unsubscribe', subscriptionId: 12, expiresAt: 0, broadcastId: 7 });
    expect(verifyToken(SECRETS, withBroadcast, 'unsubscribe')).toEqual({
      ok: true,
      claims: { purpose: 'unsubscribe', subscriptionId: 12, expiresAt: 0, broadcastId: 7 },
    });
    const plain = createToken(SECRETS, { purpose: 'unsubscribe', subscriptionId: 12, expiresAt: 0 });
    expect(verifyToken(SECRETS, plain, 'unsubscribe')).toEqual({
      ok: true,
      claims: { purpose: 'unsubscribe', subscriptionId: 12, expiresAt: 0 },
    });
    // Another broadcast id under the same signature is a forgery.
    const [payload, signature] = withBroadcast.split('.') as [string, string];
    const forged = `${Buffer.from(Buffer.from(payload, 'base64url').toString().replace(/\.7$/, '.8')).toString('base64url')}.${signature}`;
    expect(verifyToken(SECRETS, forged, 'unsubscribe')).toEqual({ ok: false, reason: 'bad_signature' });
  });
});

describe('broadcast bodies', () => {
  it('are sanitised: no script, style, remote font, event handler or non-https image', () => {
    const html = sanitizeBody(
      '<p onclick="x()" style="background:url(http://t.test/a)">Hi<script>alert(1)</script></p><style>@import url(https://fonts.googleapis.com/x)</style><img src="http://t.test/p.gif"><img src="/rel.png"><img src="https://ok.test/i.png" alt="ok"><a href="javascript:alert(1)">x</a>',
      'markdown',
    );
    expect(html).toBe('<p>Hi</p><img src="https://ok.test/i.png" alt="ok" /><a>x</a>');
    const mjml = sanitizeBody(
      '<mj-section><mj-column><mj-text>Hi</mj-text><mj-image src="http://t.test/i.png" /></mj-column></mj-section><mj-head><mj-font name="F" href="https://fonts.googleapis.com/x" /></mj-head><mj-raw><script>1</script></mj-raw>',
      'mjml',
    );
    expect(mjml).toBe('<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section>');
  });

  it('keep their braces as text, and give a text part from the sanitised HTML', () => {
    const sections = bodySections('Hello {{unsubscribeUrl}} <script>alert(1)</script>', 'markdown');
    expect(sections).not.toContain('{{');
    expect(plainText(sections)).toBe('Hello {{unsubscribeUrl}}');
  });

  it("render per locale, in the recipient's when written in it, else English, else the first written", async () => {
    expect(contentLocale({ body: { en: 'a', fr: 'b' } }, 'fr')).toBe('fr');
    expect(contentLocale({ body: { en: 'a' } }, 'fr')).toBe('en');
    expect(contentLocale({ body: { fr: 'b' } }, 'en')).toBe('fr');
    const layouts = await loadBroadcastLayouts();
    const fr = await renderBroadcast(
      layouts,
      { subject: { en: 'Hi', fr: 'Salut' }, body: { en: '# Hi', fr: '# Salut' }, format: 'markdown' },
      'fr',
      { strict: true },
    );
    expect(fr.subject).toEqual(['Salut']);
    expect(fr.html.join('')).toContain('<h1>Salut</h1>');
    expect(fr.html.filter((_, i) => i % 2 === 1).sort()).toEqual(['listName', 'listName', 'siteLabel', 'unsubscribeUrl']);
    expect(fr.html.join('')).not.toMatch(/fonts\.googleapis|@import|<link/);
  });
});

describe('BROADCAST_RATE_PER_MINUTE as a limiter', () => {
  it('keeps windows of about 100 ms whose average is the rate', () => {
    expect(broadcastLimiter(0)).toBeNull();
    expect(broadcastLimiter(600)).toEqual({ max: 1, duration: 100 });
    expect(broadcastLimiter(100)).toEqual({ max: 1, duration: 600 });
    expect(broadcastLimiter(6000)).toEqual({ max: 10, duration: 100 });
    expect(broadcastLimiter(1000)).toEqual({ max: 2, duration: 120 });
  });
});
