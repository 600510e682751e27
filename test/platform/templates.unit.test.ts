import { beforeAll, describe, expect, it } from 'vitest';
import { loadTemplates, renderMessage, type Templates } from '../../src/platform/mail/templates.js';

let templates: Templates;
beforeAll(async () => {
  templates = await loadTemplates();
});

describe('precompiled MJML templates', () => {
  it('renders every locale and kind with its language and the links filled in', () => {
    for (const locale of ['en', 'fr'] as const) {
      const confirmation = renderMessage(templates, locale, 'confirmation', {
        listName: 'News',
        siteLabel: 'Example News at news.example.com',
        validDays: '7',
        confirmUrl: 'https://x.test/confirm?token=abc',
        unsubscribeUrl: 'https://x.test/unsubscribe?token=def',
      });
      expect(confirmation.html).toContain(`<html lang="${locale}"`);
      expect(confirmation.html).toContain('href="https://x.test/confirm?token=abc"');
      expect(confirmation.text).toContain('https://x.test/confirm?token=abc');
      expect(confirmation.text).toContain('https://x.test/unsubscribe?token=def');
      expect(confirmation.html).not.toMatch(/\{\{\w+\}\}/);
      expect(confirmation.subject).toContain('News');
    }
  });

  it('escapes variables in HTML and keeps subjects on one line', () => {
    const welcome = renderMessage(templates, 'en', 'welcome', {
      listName: '<script>alert(1)</script>\r\nBcc: x@y.z',
      siteLabel: '<b>site</b>',
      unsubscribeUrl: 'https://x.test/u?a=1&b=2',
      preferencesUrl: 'https://x.test/preferences?token=p&x=1',
      greetingName: '',
      listIntroHtml: '',
      listIntroText: '',
    });
    expect(welcome.html).not.toContain('<script>alert(1)</script>');
    expect(welcome.html).toContain('&lt;script&gt;');
    expect(welcome.html).toContain('&lt;b&gt;site&lt;/b&gt;');
    expect(welcome.html).toContain('https://x.test/u?a=1&amp;b=2');
    expect(welcome.subject).not.toMatch(/[\r\n]/);
  });

  it('puts a list intro in the welcome mail as a row of its table, and only as markup named *Html', () => {
    const welcome = renderMessage(templates, 'fr', 'welcome', {
      listName: 'La lettre',
      siteLabel: 'site',
      unsubscribeUrl: 'https://x.test/u',
      preferencesUrl: 'https://x.test/p',
      greetingName: '',
      listIntroHtml: '<tr><td><p>Les <strong>nouvelles</strong></p></td></tr>',
      listIntroText: '\nLes **nouvelles**\n',
    });
    expect(welcome.html).toContain('<tr><td><p>Les <strong>nouvelles</strong></p></td></tr>');
    expect(welcome.text).toContain('Les **nouvelles**');
  });

  it('refuses to render with a missing variable', () => {
    expect(() => renderMessage(templates, 'en', 'welcome', { listName: 'x' })).toThrow(/unsubscribeUrl|greetingName/);
  });
});
