import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkIn, postForm, tokenOf, waitFor } from '../support/http.js';
import { startTestService, type TestService } from '../support/service.js';

/** The pages a subscriber reaches, in their language, through the real service. */

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ env: { SITE_NAME: 'Example News', SITE_URL: 'https://news.example.com' } });
});
afterAll(async () => {
  await t?.stop();
});

const page = async (res: Response) => ({ status: res.status, html: await res.text() });

describe('error pages', () => {
  it('say the error code’s sentence in the reader’s language, and nothing in English', async () => {
    const fr = await page(
      await fetch(`${t.url}/confirm?token=garbage`, { headers: { accept: 'text/html', 'accept-language': 'fr-FR,fr;q=0.9' } }),
    );
    expect(fr.status).toBe(400);
    expect(fr.html).toContain('<html lang="fr">');
    expect(fr.html).toContain('<h1>Un problème est survenu</h1>');
    expect(fr.html).toContain('Ce lien n’est pas valable. Ouvrez-le à nouveau depuis l’e-mail, tel quel.');
    expect(fr.html).not.toMatch(/This link|Something/);
    expect(fr.html).toContain('<a href="https://news.example.com">Revenir sur Example News</a>');

    const en = await page(await fetch(`${t.url}/no/such/page`, { headers: { accept: 'text/html' } }));
    expect(en.status).toBe(404);
    expect(en.html).toContain('This page does not exist.');
    expect(en.html).toContain('<a href="https://news.example.com">Back to Example News</a>');
  });

  it('follow the language of the form that was sent, whatever the browser’s', async () => {
    const res = await postForm(`${t.url}/subscribe`, { email: 'not an address', locale: 'fr' }, { 'accept-language': 'en' });
    const { status, html } = await page(res);
    expect(status).toBe(400);
    expect(html).toContain('Cette adresse e-mail ne semble pas correcte.');
  });
});

describe('the confirm link', () => {
  it('carries the subscriber’s language to its page and to the page after the button', async () => {
    const email = 'lea.fr@example.com';
    expect((await postForm(`${t.url}/subscribe`, { email, locale: 'fr' })).status).toBe(303);
    const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'the confirmation');
    const link = new URL(/https?:\/\/\S+\/confirm\?token=\S+/.exec(confirmation.parsed.text ?? '')![0]);
    expect(link.searchParams.get('locale')).toBe('fr');
    expect(link.searchParams.get('token')).toBe(tokenOf(linkIn(confirmation, 'confirm')));

    // An English browser opening a French mail's link still reads French.
    const shown = await page(await fetch(`${t.url}${link.pathname}${link.search}`, { headers: { 'accept-language': 'en' } }));
    expect(shown.html).toContain('<h1>Confirmez votre inscription</h1>');
    expect(shown.html).toContain('<input type="hidden" name="locale" value="fr">');

    const done = await page(
      await postForm(`${t.url}/confirm`, { token: link.searchParams.get('token')!, locale: 'fr' }, { 'accept-language': 'en' }),
    );
    expect(done.status).toBe(200);
    expect(done.html).toContain('Merci\u00a0: votre inscription à Newsletter est confirmée.');
  });
});

describe('the thank-you page', () => {
  it('promises nothing', async () => {
    const { html } = await page(await fetch(`${t.url}/thanks?locale=en`));
    expect(html).toContain('If this address can be subscribed, a confirmation email is on its way.');
  });
});
