/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDkimKey } from '../src/mail/dkim.js';
import {
  confirmedPage,
  errorPage,
  notMePage,
  resubscribedPage,
  thanksPage,
  unsubscribedPage,
  unsubscribePage,
} from '../src/http/pages.js';
import type { Locale } from '../src/mail/locale.js';
import { startDnsStub, type DnsStub } from './support/dnsStub.js';
import { frenchTypographyFaults } from './support/typography.js';
import { ADMIN_AUTH, startTestService, TEST_ADMIN_TOKEN, type TestService } from './support/service.js';
import { linkIn, postJson, waitFor } from './support/http.js';

/**
 * Every public page and console page in Chromium, on a phone (390 px) and a desktop (1280 px),
 * in light and dark, in English and French: nothing overflows, every text has a contrast of at
 * least 4.5:1 (3:1 when large), buttons are big enough for a thumb and the two unsubscribe
 * choices stand well apart, and console tables do not cut words in two. Each page is
 * photographed into SCREENSHOTS_DIR (default ./screenshots/pages) for a person to look at.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SCREENSHOTS = path.resolve(process.env.SCREENSHOTS_DIR ?? 'screenshots/pages');
const WIDTHS = [390, 1280] as const;
const SCHEMES = ['light', 'dark'] as const;
const LONG_ADDRESS = 'maximilienne.de-la-tour-dauvergne.newsletter-reader@subdomain.example-company.com';
const SITE = { name: 'Example News', url: 'https://news.example.com', host: 'news.example.com' };

let t: TestService;
let dns: DnsStub;
let browser: Browser;
beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
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
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await dns?.close();
});

interface Findings {
  overflow: string[];
  lowContrast: string[];
  smallButtons: string[];
  brokenWords: string[];
}

/**
 * Runs in the page: what a person would stumble on. Contrast follows WCAG 2 (relative luminance;
 * large text is 24 px, or 18.66 px bold); the background of a text is the first opaque one up
 * its ancestors.
 */
function inspect(): Findings {
  const parse = (color: string) => {
    const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(color);
    return m ? { rgb: [Number(m[1]), Number(m[2]), Number(m[3])], alpha: m[4] === undefined ? 1 : Number(m[4]) } : { rgb: [0, 0, 0], alpha: 0 };
  };
  const luminance = ([r, g, b]: number[]) => {
    const f = (c: number) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
  };
  const background = (element: Element | null): number[] => {
    for (let e = element; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg.alpha > 0.5) return bg.rgb;
    }
    return matchMedia('(prefers-color-scheme: dark)').matches ? [18, 18, 18] : [255, 255, 255];
  };
  const describe = (e: Element) => `<${e.tagName.toLowerCase()}${e.className ? `.${e.className}` : ''}> "${(e.textContent ?? '').trim().slice(0, 40)}"`;
  const findings: Findings = { overflow: [], lowContrast: [], smallButtons: [], brokenWords: [] };

  if (document.documentElement.scrollWidth > window.innerWidth) findings.overflow.push(`page is ${document.documentElement.scrollWidth}px wide`);
  const main = document.querySelector('main')!.getBoundingClientRect();
  for (const e of document.querySelectorAll('main *')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > main.right + 1 && !e.closest('td, th')) findings.overflow.push(`${describe(e)} ends at ${Math.round(r.right)} past the card (${Math.round(main.right)})`);
  }

  for (const e of document.querySelectorAll('body *')) {
    const hasText = [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim() !== '');
    if (!hasText || e.closest('style, title, script')) continue;
    const style = getComputedStyle(e);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const fg = parse(style.color).rgb;
    const bg = background(e);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a) as [number, number];
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) findings.lowContrast.push(`${describe(e)}: ${ratio.toFixed(2)}:1 (${style.color} on rgb(${bg.join(', ')}))`);
  }

  for (const b of document.querySelectorAll('main button')) {
    const r = b.getBoundingClientRect();
    if (r.height < 44) findings.smallButtons.push(`${describe(b)} is ${Math.round(r.height)}px high`);
  }

  // A word cut over two lines in a console table: each word's boxes lie on one line.
  for (const cell of document.querySelectorAll('td, th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      // Code and cells of one long token (an address, a URL) may break anywhere.
      if (node.parentElement?.closest('code, .token')) continue;
      for (const word of node.textContent!.matchAll(/\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (tops.size < 2) continue;
        // Where the line breaks: after a hyphen, slash, dot or "@" (an address, a URL) is fair; between two letters it is not.
        const topOf = (i: number) => {
          range.setStart(node!, word.index + i);
          range.setEnd(node!, word.index + i + 1);
          return Math.round(range.getBoundingClientRect().top);
        };
        for (let i = 1; i < word[0].length; i++) {
          if (topOf(i) !== topOf(i - 1) && !/[-/.@?&=_]/.test(word[0][i - 1]!)) findings.brokenWords.push(`"${word[0]}" cut after "${word[0].slice(0, i)}" in ${describe(cell)}`);
        }
      }
    }
  }
  return findings;
}

async function contextFor(width: number, scheme: 'light' | 'dark', locale: Locale): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width, height: 900 }, colorScheme: scheme, locale: locale === 'fr' ? 'fr-FR' : 'en-US' });
}

const problems: string[] = [];

/** Photographs the page and records what is wrong with it. `checkWords`: console tables only at desktop width. */
async function look(page: Page, name: string, width: number, scheme: string, locale: string) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${locale}-${width}-${scheme}.png`), fullPage: true });
  const found = await page.evaluate(inspect);
  const label = `${name} ${locale} ${width}px ${scheme}`;
  for (const [kind, items] of Object.entries(found) as [keyof Findings, string[]][]) {
    if (kind === 'brokenWords' && width < 1280) continue;
    // Thumb-sized buttons are for subscribers' pages; the console is a desk tool.
    if (kind === 'smallButtons' && name.startsWith('admin')) continue;
    for (const item of items) problems.push(`${label}: ${kind}: ${item}`);
  }
  // Words assembled by the pages (labels, codes) follow French typography as the strings do.
  if (locale === 'fr') for (const fault of frenchTypographyFaults(await page.locator('main').innerText())) problems.push(`${label}: typography: ${fault}`);
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
          const [one, all] = await page.locator('main button').evaluateAll((buttons) => buttons.map((b) => b.getBoundingClientRect().toJSON() as DOMRect));
          expect(all!.top - one!.bottom, `${locale} ${width} ${scheme}`).toBeGreaterThanOrEqual(24);
          await context.close();
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('the admin console is readable too, and its tables keep words whole at 1280 px', { timeout: 180_000 }, async () => {
    problems.length = 0;
    await postJson(`${t.url}/admin/api/suppressions`, { email: LONG_ADDRESS, reason: 'complained' }, ADMIN_AUTH);
    await postJson(`${t.url}/admin/api/suppressions`, { email: 'someone@example.net', reason: 'bounced', list: 'default' }, ADMIN_AUTH);
    await postJson(`${t.url}/subscribe`, { email: LONG_ADDRESS.replace('maximilienne', 'max'), name: 'Max' }, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36', referer: 'https://news.example.com/subscribe/weekly-newsletter?utm_source=footer' });

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
        await context.close();
      }
    }
    expect(problems).toEqual([]);
  });
});
