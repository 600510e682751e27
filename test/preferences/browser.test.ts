/// <reference lib="dom" />
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { eq } from 'drizzle-orm';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locale } from '../../src/platform/locales/locale.js';
import { linkIn, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';
import { frenchTypographyFaults } from '../support/typography.js';

/**
 * The preference centre in Chromium at phone width (390 px), in English and French: axe finds
 * no violation, the person subscribes to a second list and leaves the first by ticking boxes
 * (no script), and both changes reach the consent trail shown in "Your data".
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const SCREENSHOTS = path.join(process.env.SCREENSHOTS_DIR ?? 'screenshots', 'preferences');
mkdirSync(SCREENSHOTS, { recursive: true });
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let t: TestService;
let browser: Browser;
beforeAll(async () => {
  t = await startTestService();
  await t.service.database.transaction(async ({ db, tables: { lists } }) => {
    await db.insert(lists).values([
      {
        slug: 'pb-first',
        name: 'First letter',
        nameByLocale: JSON.stringify({ en: 'First letter', fr: 'Première lettre' }),
        public: true,
        createdAt: Date.now(),
      },
      {
        slug: 'pb-second',
        name: 'Second letter',
        nameByLocale: JSON.stringify({ en: 'Second letter', fr: 'Deuxième lettre' }),
        description: JSON.stringify({ en: 'Once a month', fr: 'Une fois par mois' }),
        public: true,
        createdAt: Date.now(),
      },
      {
        slug: 'pb-strict',
        name: 'Strict letter',
        nameByLocale: JSON.stringify({ en: 'Strict letter', fr: 'Lettre stricte' }),
        public: true,
        requireConsent: true,
        createdAt: Date.now(),
      },
    ]);
  });
  const statement = await fetch(`${t.url}/admin/api/lists/pb-strict/consent`, {
    method: 'PUT',
    headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ text: { en: 'I agree to receive the Strict letter.', fr: 'J’accepte de recevoir la Lettre stricte.' } }),
  });
  expect(statement.status).toBe(200);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => {
    const axe = (
      window as unknown as { axe: { run(context: Document): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }
    ).axe;
    return (await axe.run(document)).violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  return result;
}

async function preferencesLinkOf(email: string, locale: Locale): Promise<string> {
  expect((await postJson(`${t.url}/subscribe`, { email, list: 'pb-first', locale })).status).toBe(202);
  const confirmation = await waitFor(() => t.smtp.to(email)[0], 5000, 'confirmation');
  await postForm(`${t.url}/confirm`, { token: tokenOf(linkIn(confirmation, 'confirm')) });
  const welcome = await waitFor(() => t.smtp.to(email)[1], 5000, 'welcome');
  const link = /https?:\/\/\S+\/preferences\?token=[A-Za-z0-9_.-]+/.exec(welcome.parsed.text ?? '')![0];
  return `${t.url}${new URL(link).pathname}${new URL(link).search}`;
}

describe('preference centre in Chromium at phone width', () => {
  for (const locale of ['en', 'fr'] as const) {
    it(`${locale}: axe-clean, subscribe to a second list and leave the first, both in the trail`, async () => {
      const email = `browser.${locale}@example.com`;
      const link = await preferencesLinkOf(email, locale);
      // bypassCSP: only so that the test can inject axe; the page itself runs no script.
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true, locale });
      const page = await context.newPage();
      page.setDefaultTimeout(5000);
      try {
        await page.goto(link);
        expect(await page.getAttribute('html', 'lang')).toBe(locale);
        expect(await axeViolations(page)).toEqual([]);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
        expect(overflow).toBe(false);
        if (locale === 'fr') expect(frenchTypographyFaults(await page.innerText('main'))).toEqual([]);
        expect(await page.isChecked('input[value="pb-first"]')).toBe(true);
        expect(await page.isChecked('input[value="pb-second"]')).toBe(false);

        // A list that requires consent shows its statement beside a box of its own, not ticked.
        expect(await page.isChecked('input[name="consent"]')).toBe(false);
        expect(await page.innerText('label[for^="consent-"]')).toBe(
          locale === 'fr' ? 'J’accepte de recevoir la Lettre stricte.' : 'I agree to receive the Strict letter.',
        );

        await page.uncheck('input[value="pb-first"]');
        await page.check('input[value="pb-second"]');
        await page.check('input[value="pb-strict"]');
        await page.check('input[name="consent"]');
        await page.click('button[type="submit"]:not([name])');
        await page.waitForSelector('input[name="reason"]');
        expect(await page.innerText('main')).toContain(locale === 'fr' ? 'Deuxième lettre' : 'Second letter');
        expect(await axeViolations(page)).toEqual([]);

        const record = (await (
          await fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { headers: ADMIN_AUTH })
        ).json()) as { consent: { action: string; list: string; consentVersion: string | null }[] };
        expect(record.consent.filter((e) => e.list === 'pb-first').map((e) => e.action)).toEqual([
          'subscribe_requested',
          'confirmed',
          'unsubscribed',
        ]);
        expect(record.consent.filter((e) => e.list === 'pb-second').map((e) => e.action)).toEqual(['confirmed']);
        expect(record.consent.filter((e) => e.list === 'pb-strict').map((e) => [e.action, e.consentVersion])).toEqual([
          ['confirmed', expect.stringMatching(/^[0-9a-f]{12}$/)],
        ]);

        await page.goto(link);
        expect(await page.isChecked('input[value="pb-first"]')).toBe(false);
        expect(await page.isChecked('input[value="pb-second"]')).toBe(true);
        const trail = await page.innerText('ol.trail');
        expect(trail).toContain(locale === 'fr' ? 'Deuxième lettre' : 'Second letter');
        expect(trail).toContain(locale === 'fr' ? 'désinscription' : 'unsubscribed');
        expect(trail).toMatch(/IP 127\.0\.0\.•/);
        expect(await axeViolations(page)).toEqual([]);

        // The erase button asks once more, on a page that is axe-clean too.
        await page.click('form[action*="/preferences/erase"] button');
        await page.waitForSelector('input[name="confirm"]', { state: 'attached' });
        expect(await axeViolations(page)).toEqual([]);
        const {
          db,
          tables: { contacts },
        } = t.service.database;
        expect(await db.select().from(contacts).where(eq(contacts.emailKey, email))).toHaveLength(1);
        // Its button mails the one-time link (the real browser's post passes the cross-site check); the page says where it went.
        await page.click('form[action*="/preferences/erase"] button');
        await page.waitForSelector('main p');
        expect(await page.innerText('main')).toContain('b•••@example.com');
        expect(await axeViolations(page)).toEqual([]);
        await page.screenshot({ path: `${SCREENSHOTS}/${locale}-390-erase-link-sent.png`, fullPage: true });
        const mail = await waitFor(
          () => t.smtp.to(email).find((m) => m.header('feedback-id')?.includes(':erase_link:')),
          5000,
          'erase link',
        );
        const mailed = /https?:\/\/\S+\/preferences\/erase\/confirm\?token=\S+/.exec(mail.parsed.text ?? '')![0];
        await page.goto(`${t.url}${new URL(mailed).pathname}${new URL(mailed).search}`);
        expect(await axeViolations(page)).toEqual([]);
        if (locale === 'fr') expect(frenchTypographyFaults(await page.innerText('main'))).toEqual([]);
        await page.screenshot({ path: `${SCREENSHOTS}/${locale}-390-erase-confirm.png`, fullPage: true });
        await page.click('form[action*="/preferences/erase/confirm"] button');
        await page.waitForURL(/\/preferences\/erase\/confirm/);
        expect(await axeViolations(page)).toEqual([]);
        expect(await db.select().from(contacts).where(eq(contacts.emailKey, email))).toHaveLength(0);

        // The unsubscribe page's result offers the optional reasons form, axe-clean; sending it records the answer.
        const leaver = `leaver.${locale}@example.com`;
        await preferencesLinkOf(leaver, locale);
        const welcome = t.smtp.to(leaver)[1]!;
        await page.goto(`${t.url}${new URL(linkIn(welcome, 'unsubscribe')).pathname}${new URL(linkIn(welcome, 'unsubscribe')).search}`);
        await page.click('button[value="list"]');
        await page.waitForSelector('input[name="reason"]');
        expect(await axeViolations(page)).toEqual([]);
        await page.check('input[value="too_many"]');
        await page.fill('textarea[name="comment"]', 'Weekly would be enough.');
        await page.click('form[action*="/unsubscribe/reason"] button');
        await page.waitForURL(/\/unsubscribe\/reason/);
        expect(await axeViolations(page)).toEqual([]);
        const reasons = (await (await fetch(`${t.url}/admin/api/reasons?list=pb-first`, { headers: ADMIN_AUTH })).json()) as {
          latest: { comment: string }[];
        };
        expect(reasons.latest.map((l) => l.comment)).toContain('Weekly would be enough.');
      } finally {
        await context.close();
      }
    });
  }
});
