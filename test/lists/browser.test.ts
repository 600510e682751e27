import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_AUTH, startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service.js';
import { postJson } from '../support/http.js';

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
const AXE_SOURCE = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let t: TestService;
let browser: Browser;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  expect(
    (
      await postJson(
        `${t.url}/admin/api/lists`,
        {
          slug: 'browser-list',
          name: { en: 'A list with a rather long name for a phone', fr: 'Une liste' },
          welcomeMessage: 'Hello **there**',
        },
        ADMIN_AUTH,
      )
    ).status,
  ).toBe(201);
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

/** axe-core's violations on the page as it is (injected past the console's CSP, which allows no script). */
async function violations(page: Page): Promise<string[]> {
  await page.evaluate(await AXE_SOURCE);
  const result = (await page.evaluate('axe.run(document)')) as { violations: { id: string; nodes: { target: string[] }[] }[] };
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('the console’s Lists pages in a real browser', () => {
  it('creates a list through the form and has no axe violation at 390 and 1280 px', async () => {
    for (const width of [390, 1280]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${t.url}/admin`);
      await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL('**/admin');
      await page.getByRole('link', { name: 'Lists', exact: true }).click();
      await page.waitForURL('**/admin/lists');
      expect(await violations(page), `lists at ${width}px`).toEqual([]);

      await page.getByLabel('Slug (lower-case letters, digits and hyphens; fixed once created)').fill(`made-at-${width}`);
      await page.getByLabel('Name (en)').fill(`Made at ${width}`);
      await page.getByRole('button', { name: 'Create the list' }).click();
      await page.waitForURL(`**/admin/lists/made-at-${width}/edit?notice=created`);
      expect(await page.textContent('.notice')).toContain('The list was created.');
      expect(await violations(page), `edit at ${width}px`).toEqual([]);
      await page.goto(`${t.url}/admin/lists/browser-list/edit`);
      expect(await violations(page), `edit of a filled list at ${width}px`).toEqual([]);
      // Nothing wider than the screen.
      expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
      await context.close();
    }
  });
});
