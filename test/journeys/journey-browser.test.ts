import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskAddress } from '../../src/platform/http/pages.js';
import { stringsOf, type Locale } from '../../src/platform/locales/locale.js';
import { checkAxe, layoutFindings, openBrowser, screenshot } from '../support/browser.js';
import { linkIn, postJson, waitFor } from '../support/http.js';
import { frenchTypographyFaults } from '../support/typography.js';
import { ADMIN_AUTH, startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service.js';

/**
 * The subscriber's whole journey in Chromium, as a person makes it: the signup form on the
 * site, the thank-you page, the confirmation mail's link, the confirm button, the welcome
 * mail's unsubscribe link, the unsubscribe choices, and the way back (resubscribe); in English
 * and French, on a phone (390 px) and a desktop (1280 px). At each step axe-core finds nothing,
 * nothing overflows, the page names the list in the person's language (and the masked address,
 * and the way back to the site, where the page says so), and the step is photographed into
 * screenshots/journey/<locale>-<width>-<step>.png. Then every console page and the error pages
 * go through axe at both widths.
 */

const SCREENSHOTS = 'journey';
const WIDTHS = [390, 1280] as const;
const SITE = { name: 'Example News', url: 'https://news.example.com' };
const LIST = { slug: 'weekly', name: { en: 'Weekly news', fr: 'la lettre hebdomadaire' } };
/** On the phone, an address long enough to overflow any card that does not wrap it. */
const LONG_LOCAL_PART = 'maximilienne.de-la-tour-dauvergne.newsletter-reader';

let t: TestService;
let browser: Browser;
/** The site's own page with the README's signup form, as a person finds it on news.example.com. */
let siteForm: Server;
let siteFormUrl: string;

/** The README's form snippet, in the site's language, posting to the service under test. */
function signupFormPage(locale: Locale, action: string): string {
  const words =
    locale === 'fr'
      ? { title: 'Inscription', email: 'Adresse e-mail', button: 'S’inscrire' }
      : { title: 'Sign up', email: 'Email', button: 'Subscribe' };
  return `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${words.title}</title></head>
<body><main><h1>${SITE.name}</h1>
<form method="post" action="${action}">
  <label>${words.email} <input type="email" name="email" required autocomplete="email"></label>
  <input type="hidden" name="list" value="${LIST.slug}">
  <input type="hidden" name="locale" value="${locale}">
  <div style="position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden" aria-hidden="true">
    <label>Website <input type="text" name="website" tabindex="-1" autocomplete="off"></label>
  </div>
  <button type="submit">${words.button}</button>
</form></main></body></html>`;
}

beforeAll(async () => {
  t = await startTestService({ env: { SITE_NAME: SITE.name, SITE_URL: SITE.url } });
  await t.service.database.transaction(async (tx) => {
    await tx.db
      .insert(tx.tables.lists)
      .values({ slug: LIST.slug, name: LIST.name.en, nameByLocale: JSON.stringify(LIST.name), createdAt: Date.now() });
  });
  siteForm = createServer((req, res) => {
    const locale = new URL(req.url ?? '/', 'http://site').searchParams.get('locale') === 'fr' ? 'fr' : 'en';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(signupFormPage(locale, `${t.url}/subscribe`));
  });
  await new Promise<void>((resolve) => siteForm.listen(0, '127.0.0.1', resolve));
  siteFormUrl = `http://127.0.0.1:${(siteForm.address() as AddressInfo).port}/`;
  browser = await openBrowser();
});
afterAll(async () => {
  await browser?.close();
  if (siteForm) await new Promise((resolve) => siteForm.close(resolve));
  await t?.stop();
});

/** A link from a mail, pointed at the service under test (mails carry PUBLIC_URL, which no one serves here). */
const served = (link: string) => {
  const url = new URL(link);
  return `${t.url}${url.pathname}${url.search}`;
};

interface StepExpectations {
  /** The list's name in the page's language. */
  list?: string;
  /** The address, shown masked. */
  maskedAddress?: string;
  /** Whether the page ends the journey, and so links back to SITE_URL. */
  backToSite?: boolean;
}

/** Axe, layout, what the page names, and a photograph: every finding goes to `problems`, readably. */
async function step(
  page: Page,
  problems: string[],
  label: { locale: Locale; width: number; name: string },
  expected: StepExpectations,
): Promise<void> {
  const where = `${label.locale} ${label.width}px ${label.name}`;
  await screenshot(page, SCREENSHOTS, `${label.locale}-${label.width}-${label.name}`);
  problems.push(...(await checkAxe(page, where)));
  const found = await page.evaluate(layoutFindings);
  for (const kind of ['overflow', 'lowContrast', 'smallButtons'] as const)
    for (const item of found[kind]) problems.push(`${where}: ${kind}: ${item}`);
  expect(await page.getAttribute('html', 'lang'), where).toBe(label.locale);
  const text = await page.locator('main').innerText();
  if (label.locale === 'fr') for (const fault of frenchTypographyFaults(text)) problems.push(`${where}: typography: ${fault}`);
  if (expected.list && !text.includes(expected.list)) problems.push(`${where}: does not name the list "${expected.list}"`);
  if (expected.maskedAddress && !text.includes(expected.maskedAddress))
    problems.push(`${where}: does not show the address as ${expected.maskedAddress}`);
  if (expected.backToSite && !(await page.locator(`main a[href="${SITE.url}"]`).allInnerTexts()).some((text) => text.includes(SITE.name)))
    problems.push(`${where}: no link back to ${SITE.name} (${SITE.url})`);
}

async function newContext(locale: Locale, width: number): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width, height: 900 }, locale: locale === 'fr' ? 'fr-FR' : 'en-US' });
}

/**
 * The console pages reached by a plain GET once signed in, each checked at both widths: a new
 * console page joins with one line here. Not here: /admin/queues, BullMQ's own dashboard
 * (@bull-board), whose markup is not ours.
 */
const CONSOLE_PAGES: readonly (readonly [name: string, path: string])[] = [
  ['contact-unknown', '/admin/contacts?email=nobody%40example.com'],
  ['lists', '/admin/lists'],
  ['list-edit', `/admin/lists/${LIST.slug}/edit`],
  ['list-subscribers', `/admin/lists/${LIST.slug}`],
  ['list-consent', `/admin/lists/${LIST.slug}/consent`],
  ['broadcasts', '/admin/broadcasts'],
  ['webhooks', '/admin/webhooks'],
  ['reasons', '/admin/reasons'],
  ['sending', '/admin/sending'],
  ['not-found', '/admin/no-such-page'],
];

describe('the subscriber journey in Chromium', () => {
  for (const locale of ['en', 'fr'] as const) {
    for (const width of WIDTHS) {
      it(`signup → confirm → welcome → unsubscribe → resubscribe, ${locale}, ${width} px`, { timeout: 60_000 }, async () => {
        const words = stringsOf(locale).page;
        const list = LIST.name[locale];
        const email = `${width < 500 ? LONG_LOCAL_PART : 'journey'}.${locale}.${width}@subdomain.example-company.com`;
        const masked = maskAddress(email);
        const problems: string[] = [];
        const label = (name: string) => ({ locale, width, name });
        const context = await newContext(locale, width);
        const page = await context.newPage();

        // 1. The site's form, then the thank-you page it leads to.
        await page.goto(`${siteFormUrl}?locale=${locale}`);
        await screenshot(page, SCREENSHOTS, `${locale}-${width}-1-form`);
        await page.locator('input[type=email]').fill(email);
        await page.locator('button[type=submit]').click();
        await page.waitForURL(`${t.url}/thanks**`);
        expect(await page.locator('h1').innerText()).toBe(words.thanksTitle);
        await step(page, problems, label('2-thanks'), { list, backToSite: true });

        // 2. The confirmation mail's link, and its button.
        const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'the confirmation');
        await page.goto(served(linkIn(confirmation, 'confirm')));
        expect(await page.locator('h1').innerText()).toBe(words.confirmTitle);
        await step(page, problems, label('3-confirm'), { list, maskedAddress: masked });
        await page.getByRole('button', { name: words.confirmButton }).click();
        await page.waitForURL(`${t.url}/confirm`);
        expect(await page.locator('h1').innerText()).toBe(words.confirmedTitle);
        await step(page, problems, label('4-confirmed'), { list, maskedAddress: masked, backToSite: true });

        // 3. The welcome mail, as the person sees it, and its unsubscribe link.
        const welcome = await waitFor(() => t.smtp.to(email)[1], 5000, 'the welcome mail');
        await page.setContent(welcome.parsed.html || '');
        await screenshot(page, SCREENSHOTS, `${locale}-${width}-5-welcome-mail`);
        // A mail is not a page: a mail client gives it its landmarks, so only WCAG's own rules apply.
        problems.push(...(await checkAxe(page, `${locale} ${width}px welcome mail`, { bestPractices: false })));
        await page.goto(served(linkIn(welcome, 'unsubscribe')));
        expect(await page.locator('h1').innerText()).toBe(words.unsubscribeTitle);
        await step(page, problems, label('6-unsubscribe'), { list, maskedAddress: masked });

        // The two choices: each big enough for a thumb, and far enough apart that it hits only one.
        const [one, all] = await page
          .locator('main form button')
          .evaluateAll((buttons) => buttons.map((b) => b.getBoundingClientRect().toJSON() as DOMRect));
        expect(one!.height, 'the "this list" button').toBeGreaterThanOrEqual(44);
        expect(all!.height, 'the "all lists" button').toBeGreaterThanOrEqual(44);
        expect(all!.top - one!.bottom, 'the gap between the two unsubscribe buttons').toBeGreaterThanOrEqual(24);

        // 4. Unsubscribed from this list; then the way back.
        await page.getByRole('button', { name: words.unsubscribeButton(list) }).click();
        await page.waitForURL(`${t.url}/unsubscribe?token=**`);
        expect(await page.locator('h1').innerText()).toBe(words.unsubscribedTitle);
        await step(page, problems, label('7-unsubscribed'), { list, maskedAddress: masked, backToSite: true });
        await page.getByRole('button', { name: words.resubscribeButton }).click();
        await page.waitForURL(`${t.url}/resubscribe?token=**`);
        expect(await page.locator('h1').innerText()).toBe(words.resubscribedTitle);
        await step(page, problems, label('8-resubscribed'), { list, maskedAddress: masked, backToSite: true });

        await context.close();
        expect(problems).toEqual([]);
      });
    }
  }

  it('the error pages pass axe at both widths, in both languages', async () => {
    const problems: string[] = [];
    for (const locale of ['en', 'fr'] as const) {
      for (const width of WIDTHS) {
        const context = await newContext(locale, width);
        const page = await context.newPage();
        for (const [name, path] of [
          ['error-bad-link', '/confirm?token=garbage'],
          ['error-not-found', '/no-such-page'],
        ] as const) {
          await page.goto(`${t.url}${path}`);
          await step(page, problems, { locale, width, name }, { backToSite: true });
        }
        await context.close();
      }
    }
    expect(problems).toEqual([]);
  });

  it('every console page passes axe at both widths, and its tables keep words whole at 1280 px', { timeout: 60_000 }, async () => {
    const problems: string[] = [];
    for (const width of WIDTHS) {
      const contact = `${LONG_LOCAL_PART}.${width}@subdomain.example-company.com`;
      await postJson(`${t.url}/admin/api/suppressions`, { email: `blocked.${contact}`, reason: 'complained' }, ADMIN_AUTH);
      await postJson(
        `${t.url}/subscribe`,
        { email: contact, list: LIST.slug, name: 'Maximilienne' },
        {
          'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
          referer: 'https://news.example.com/subscribe/weekly-newsletter?utm_source=footer',
        },
      );
      const context = await newContext('en', width);
      const page = await context.newPage();
      const look = async (name: string) => {
        const where = `console ${width}px ${name}`;
        await screenshot(page, SCREENSHOTS, `console-${width}-${name}`);
        problems.push(...(await checkAxe(page, where)));
        const found = await page.evaluate(layoutFindings);
        for (const item of [...found.overflow, ...found.lowContrast]) problems.push(`${where}: ${item}`);
        if (width === 1280) for (const item of found.brokenWords) problems.push(`${where}: broken word: ${item}`);
      };
      await page.goto(`${t.url}/admin`);
      await look('sign-in');
      await page.getByLabel('Admin token').fill('not-the-token-0123456789');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.textContent('main')).toContain('not the admin token');
      await look('sign-in-refused');
      await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      // Signing in lands on the dashboard.
      await page.waitForURL('**/admin');
      await look('dashboard');
      await page.goto(`${t.url}/admin/suppressions`);
      await look('suppressions');
      await page.goto(`${t.url}/admin/contacts?email=${encodeURIComponent(contact)}`);
      await look('contact');
      await page.getByLabel('Type the address to confirm erasure').fill(contact);
      await page.getByRole('button', { name: 'Erase this contact' }).click();
      await page.waitForURL('**/admin/contacts/erase');
      await look('contact-erased');
      for (const [name, path] of CONSOLE_PAGES) {
        await page.goto(`${t.url}${path}`);
        await look(name);
      }
      await page.goto(`${t.url}/admin/suppressions`);
      await page.getByLabel('CSV file').setInputFiles({
        name: 'entries.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from(`email,reason\nimported.${width}@example.com,bounced\nnot an address,bounced\n`),
      });
      await page.getByRole('button', { name: 'Import' }).click();
      await page.waitForURL('**/admin/suppressions/import**');
      await look('import-result');
      await context.close();
    }
    expect(problems).toEqual([]);
  });
});

describe('the checks themselves', () => {
  it('axe and the layout check do find faults: a faint text, an unnamed field, a card too wide', async () => {
    const context = await newContext('en', 390);
    const page = await context.newPage();
    await page.setContent(`<!doctype html><html lang="en"><head><title>Faulty</title></head><body><main>
<h1>Faulty</h1><p style="color:#bbb">Faint words</p><input type="email"><div style="width:900px">Too wide</div></main></body></html>`);
    const violations = (await checkAxe(page, 'faulty')).join('\n');
    expect(violations).toContain('color-contrast');
    expect(violations).toContain('label');
    const found = await page.evaluate(layoutFindings);
    expect(found.overflow.length).toBeGreaterThan(0);
    expect(found.lowContrast.length).toBeGreaterThan(0);
    await context.close();
  });
});
