import { describe, expect, it } from 'vitest';
import { errorPage, maskAddress } from '../../src/platform/http/pages.js';
import { notMePage, resubscribedPage, unsubscribedPage, unsubscribePage } from '../../src/features/optout/pages.js';
import { confirmedPage, confirmPage, thanksPage } from '../../src/features/signup/pages.js';

const site = { name: 'Example News', url: 'https://news.example.com/', host: 'news.example.com' };
const view = { list: 'Weekly <news>', address: 'ann.reader@example.com', site };
const text = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/[ \t\n]+/g, ' ');

describe('the pages of the journey', () => {
  it('masks an address to its first character and its domain', () => {
    expect(maskAddress('ann.reader@example.com')).toBe('a•••@example.com');
    expect(maskAddress('😀x@example.com')).toBe('😀•••@example.com');
    expect(maskAddress('not-an-address')).toBe('•••');
  });

  it('names the list and the masked address, never the full one, and escapes them', () => {
    for (const html of [
      confirmPage('en', 'tok', view),
      confirmedPage('en', false, view),
      unsubscribePage('en', '/unsubscribe?token=t', view),
      notMePage('en', '/unsubscribe?token=t', view),
      resubscribedPage('en', true, view),
    ]) {
      expect(html).toContain('Weekly &lt;news&gt;');
      expect(html).not.toContain('<news>');
      expect(html).toContain('a•••@example.com');
      expect(html).not.toContain('ann.reader');
    }
  });

  it('links back to the site where the journey ends, and only there', () => {
    const back = '<a href="https://news.example.com/">Back to Example News</a>';
    for (const html of [
      thanksPage('en', { site }),
      confirmedPage('en', false, view),
      unsubscribedPage('en', { scope: 'list', notMe: false }, '/resubscribe?token=t', view),
      resubscribedPage('en', false, view),
      errorPage('en', 'invalid_token', { site }),
    ]) {
      expect(html).toContain(back);
    }
    expect(errorPage('fr', 'invalid_token', { site: { ...site, name: undefined } })).toContain('>Revenir sur news.example.com</a>');
    // Pages that still ask for a decision keep the person on it.
    for (const html of [confirmPage('en', 'tok', view), unsubscribePage('en', '/u', view), notMePage('en', '/u', view)])
      expect(html).not.toContain('Back to');
    // No SITE_URL: no link.
    expect(confirmedPage('en', false, { ...view, site: { ...site, url: undefined } })).not.toContain('Back to');
  });

  it('shows the typed address in full on the thank-you page, and promises nothing', () => {
    const html = text(thanksPage('en', { list: 'Weekly', typedAddress: 'ann.reader@example.com', site }));
    expect(html).toContain('You typed ann.reader@example.com');
    expect(html).toContain('If this address can be subscribed, a confirmation email is on its way.');
    expect(html).toContain('Check your inbox, and your spam folder, within 7 days');
    expect(text(thanksPage('fr'))).toContain(
      'Regardez dans votre boîte de réception, et dans le dossier des indésirables (spams), d’ici 7\u00a0jours',
    );
  });

  it('speaks of a cancelled request after "not me", not of an unsubscribe', () => {
    const cancelled = text(unsubscribedPage('en', { scope: 'all', notMe: true }, '/resubscribe?token=t', view));
    expect(cancelled).toContain('Request cancelled');
    expect(cancelled).toContain('The request to receive Weekly <news> is cancelled.');
    expect(cancelled).not.toMatch(/unsubscribed/i);
    expect(text(unsubscribedPage('fr', { scope: 'all', notMe: true }, '/r', view))).toContain('Demande annulée');
    expect(text(unsubscribedPage('en', { scope: 'all', notMe: false }, '/r', view))).toContain(
      'This address will no longer receive any mail from us.',
    );
  });

  it('offers the two unsubscribe choices as separate blocks, the wider one explained', () => {
    const html = unsubscribePage('fr', '/unsubscribe?token=t', view);
    expect(html).toMatch(
      /<div class="choices">\n<button type="submit" name="scope" value="list">Me désinscrire de Weekly &lt;news&gt;<\/button>\n<div><p>Ou ne plus rien recevoir de notre part à cette adresse\u00a0:<\/p><button type="submit" name="scope" value="all" class="secondary">/,
    );
  });

  it('translates an error code, and falls back to a sentence of its own language for an unknown one', () => {
    expect(text(errorPage('fr', 'invalid_token'))).toContain('Ce lien n’est pas valable.');
    expect(text(errorPage('fr', 'no_such_code'))).toContain('Cette demande n’a pas pu aboutir.');
    expect(text(errorPage('fr', 'fallback'))).toContain('Cette demande n’a pas pu aboutir.');
    expect(errorPage('en', 'no_such_code')).toContain('<p class="code">Error code: no_such_code</p>');
  });

  it('declares both colour schemes', () => {
    expect(thanksPage('en')).toContain('<meta name="color-scheme" content="light dark">');
  });
});
