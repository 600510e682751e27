import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDkimKey } from '../../src/platform/mail/dkim.js';
import { errorPage } from '../../src/platform/http/pages.js';
import { notMePage, resubscribedPage, unsubscribedPage, unsubscribePage } from '../../src/features/optout/pages.js';
import { confirmedPage, signupAgainPage, thanksPage } from '../../src/features/signup/pages.js';
import type { Locale } from '../../src/platform/locales/locale.js';
import { checkAxe, layoutFindings, openBrowser, screenshot, type LayoutFindings } from '../support/browser.js';
import { startDnsStub, type DnsStub } from '../support/dnsStub.js';
import { frenchTypographyFaults } from '../support/typography.js';
import { ADMIN_AUTH, startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service.js';
import { linkIn, postJson, waitFor } from '../support/http.js';

/**
 * Every public page and console page in Chromium, on a phone (390 px) and a desktop (1280 px),
 * in light and dark, in English and French: nothing overflows, every text has a contrast of at
 * least 4.5:1 (3:1 when large), buttons are big enough for a thumb and the two unsubscribe
 * choices stand well apart, console tables do not cut words in two, and axe-core finds no
 * violation. Each page is photographed into screenshots/pages (under SCREENSHOTS_DIR, default
 * ./screenshots) for a person to look at.
 */

const WIDTHS = [390, 1280] as const;
const SCHEMES = ['light', 'dark'] as const;
const LONG_ADDRESS = 'maximilienne.de-la-tour-dauvergne.newsletter-reader@subdomain.example-company.com';
const SITE = { name: 'Example News', url: 'https://news.example.com', host: 'news.example.com' };

let t: TestService;
let dns: DnsStub;
let browser: Browser;
beforeAll(async () => {
  dns = await startDnsStub({});
  t = await startTestService({
    env: {
      SITE_NAME: SITE.name,
      SITE_URL: SITE.url,
      DNS_SERVERS: dns.server,
      DKIM_DOMAIN: 'example.org',
      DKIM_SELECTOR: 'rsa2026',
      DKIM_PRIVATE_KEY: generateDkimKey('rsa'),
    },
  });
  browser = await openBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await dns?.close();
});

async function contextFor(width: number, scheme: 'light' | 'dark', locale: Locale): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width, height: 900 }, colorScheme: scheme, locale: locale === 'fr' ? 'fr-FR' : 'en-US' });
}

const problems: string[] = [];

/** Photographs the page and records what is wrong with it. `checkWords`: console tables only at desktop width. */
async function look(page: Page, name: string, width: number, scheme: string, locale: string) {
  await screenshot(page, 'pages', `${name}-${locale}-${width}-${scheme}`);
  const found = await page.evaluate(layoutFindings);
  const label = `${name} ${locale} ${width}px ${scheme}`;
  problems.push(...(await checkAxe(page, label)));
  for (const [kind, items] of Object.entries(found) as [keyof LayoutFindings, string[]][]) {
    if (kind === 'brokenWords' && width < 1280) continue;
    // Thumb-sized buttons are for subscribers' pages; the console is a desk tool.
    if (kind === 'smallButtons' && name.startsWith('admin')) continue;
    for (const item of items) problems.push(`${label}: ${kind}: ${item}`);
  }
  // Words assembled by the pages (labels, codes) follow French typography as the strings do.
  if (locale === 'fr')
    for (const fault of frenchTypographyFaults(await page.locator('main').innerText())) problems.push(`${label}: typography: ${fault}`);
}

/** The pages of each step as the routes render them, with the list, a masked address and the site. */
function renderedPages(locale: Locale): Record<string, string> {
  const view = { list: locale === 'fr' ? 'la lettre hebdomadaire' : 'Weekly news', address: LONG_ADDRESS, site: SITE };
  return {
    thanks: thanksPage(locale, { list: view.list, typedAddress: LONG_ADDRESS, site: SITE }),
    confirmed: confirmedPage(locale, false, view),
    unsubscribe: unsubscribePage(locale, '/unsubscribe?token=x', view),
    'not-me': notMePage(locale, '/unsubscribe?token=x', view),
    unsubscribed: unsubscribedPage(locale, { scope: 'list', notMe: false }, '/resubscribe?token=x', view),
    cancelled: unsubscribedPage(locale, { scope: 'all', notMe: true }, '/resubscribe?token=x', view),
    resubscribed: resubscribedPage(locale, true, view),
    error: errorPage(locale, 'address_blocked', { site: SITE }),
    expired: signupAgainPage(locale, { email: LONG_ADDRESS, listSlug: 'weekly' }, true, view),
    'expired-elsewhere': signupAgainPage(locale, null, false, view),
  };
}

describe('pages in Chromium', () => {
  // Some forty pages, each at two widths in two schemes: one browser, a few seconds a page.
  it('are readable and usable at 390 and 1280 px, light and dark, in English and French', { timeout: 180_000 }, async () => {
    // The journey's own pages through the service: each locale's confirm and unsubscribe links.
    const served: Record<Locale, { confirm: string; notMe: string }> = { en: { confirm: '', notMe: '' }, fr: { confirm: '', notMe: '' } };
    for (const locale of ['en', 'fr'] as const) {
      const email = `gallery.${locale}@example.com`;
      expect((await postJson(`${t.url}/subscribe`, { email, locale })).status).toBe(202);
      const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'the confirmation');
      const confirmLink = new URL(/https?:\/\/\S+\/confirm\?token=\S+/.exec(confirmation.parsed.text ?? '')![0]);
      served[locale] = { confirm: confirmLink.search, notMe: new URL(linkIn(confirmation, 'unsubscribe')).search };
    }

    for (const locale of ['en', 'fr'] as const) {
      const pages = renderedPages(locale);
      for (const width of WIDTHS) {
        for (const scheme of SCHEMES) {
          const context = await contextFor(width, scheme, locale);
          const page = await context.newPage();
          for (const [name, html] of Object.entries(pages)) {
            await page.setContent(html);
            await look(page, name, width, scheme, locale);
          }
          await page.goto(`${t.url}/confirm${served[locale].confirm}`);
          await look(page, 'confirm-served', width, scheme, locale);
          await page.goto(`${t.url}/unsubscribe${served[locale].notMe}`);
          await look(page, 'not-me-served', width, scheme, locale);
          await page.goto(`${t.url}/confirm?token=garbage`);
          await look(page, 'error-served', width, scheme, locale);
          await page.goto(`${t.url}/thanks`);
          await look(page, 'thanks-served', width, scheme, locale);

          // The two unsubscribe choices: a thumb's width apart.
          await page.setContent(pages.unsubscribe!);
          const [one, all] = await page
            .locator('main button')
            .evaluateAll((buttons) => buttons.map((b) => b.getBoundingClientRect().toJSON() as DOMRect));
          expect(all!.top - one!.bottom, `${locale} ${width} ${scheme}`).toBeGreaterThanOrEqual(24);
          await context.close();
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('the admin console is readable too, and its tables keep words whole at 1280 px', { timeout: 180_000 }, async () => {
    problems.length = 0;
    // Nothing listens there: its deliveries show failed attempts with their errors.
    const endpoint = (await (
      await postJson(
        `${t.url}/admin/api/webhook-endpoints`,
        {
          url: 'http://127.0.0.1:59999/optin-events/with-a-rather-long-path',
          events: ['contact.suppressed', 'contact.erased'],
          description: 'CRM sync',
        },
        ADMIN_AUTH,
      )
    ).json()) as { id: string };
    await postJson(`${t.url}/admin/api/suppressions`, { email: LONG_ADDRESS, reason: 'complained' }, ADMIN_AUTH);
    await postJson(`${t.url}/admin/api/suppressions`, { email: 'someone@example.net', reason: 'bounced', list: 'default' }, ADMIN_AUTH);
    await postJson(
      `${t.url}/subscribe`,
      { email: LONG_ADDRESS.replace('maximilienne', 'max'), name: 'Max' },
      {
        'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
        referer: 'https://news.example.com/subscribe/weekly-newsletter?utm_source=footer',
      },
    );

    for (const width of WIDTHS) {
      for (const scheme of SCHEMES) {
        const context = await contextFor(width, scheme, 'en');
        const page = await context.newPage();
        await page.goto(`${t.url}/admin`);
        await look(page, 'admin-sign-in', width, scheme, 'en');
        await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForURL('**/admin');
        await look(page, 'admin-dashboard', width, scheme, 'en');
        await page.goto(`${t.url}/admin/suppressions`);
        await look(page, 'admin-suppressions', width, scheme, 'en');
        await page.goto(`${t.url}/admin/contacts?email=${encodeURIComponent(LONG_ADDRESS.replace('maximilienne', 'max'))}`);
        await look(page, 'admin-contact', width, scheme, 'en');
        await page.goto(`${t.url}/admin/sending`);
        await look(page, 'admin-sending', width, scheme, 'en');
        await page.goto(`${t.url}/admin/webhooks`);
        await look(page, 'admin-webhooks', width, scheme, 'en');
        await page.goto(`${t.url}/admin/webhooks/${endpoint.id}`);
        await look(page, 'admin-webhook-endpoint', width, scheme, 'en');
        await context.close();
      }
    }
    expect(problems).toEqual([]);
  });
});
