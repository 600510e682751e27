import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson } from '../support/http.js';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service.js';

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

let t: TestService;
let browser: Browser;
let axeSource: string;
beforeAll(async () => {
  t = await startTestService();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

interface AxeViolation {
  id: string;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's WCAG 2.x A/AA rules on the page as it is now (injected by the test: the console itself runs no script). */
async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: axeSource });
  const violations = (await page.evaluate(
    `axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }).then((r) => r.violations)`,
  )) as AxeViolation[];
  return violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

describe('the dashboard in Chromium', () => {
  it('renders with no script errors and no axe violations, at phone and desk widths, light and dark', async () => {
    await postJson(`${t.url}/subscribe`, { email: 'chart.one@example.com' });
    await postJson(`${t.url}/subscribe`, { email: 'chart.two@example.com' });
    for (const [width, colorScheme] of [
      [390, 'light'],
      [1280, 'dark'],
    ] as const) {
      // bypassCSP: the console's CSP allows no script at all, and axe is one.
      const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 900 }, colorScheme });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // Resource failures are checked by their response (the browser's own favicon request has none to find).
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
      });
      page.on('response', (response) => {
        if (response.status() >= 400 && new URL(response.url()).pathname !== '/favicon.ico')
          errors.push(`${response.status()} ${response.url()}`);
      });
      await page.goto(`${t.url}/admin`);
      await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL('**/admin');
      await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');
      expect(await page.getByRole('img').first().getAttribute('aria-labelledby')).toBe('chart-title');
      expect(await page.locator('svg[role="img"] title').textContent()).toMatch(
        /^\d+ signups?, \d+ confirmations?, \d+ unsubscribes? in the last 30 days/,
      );
      expect(await page.locator('script').count()).toBe(0);
      expect(await axeViolations(page)).toEqual([]);
      // The day-by-day table opens without script, and stays clean.
      await page.getByText('The numbers, day by day').click();
      expect(await axeViolations(page)).toEqual([]);

      await page.goto(`${t.url}/admin/lists/default?status=pending`);
      expect(await page.textContent('table')).toContain('chart.one@example.com');
      expect(await axeViolations(page)).toEqual([]);
      expect(errors).toEqual([]);
      await context.close();
    }
  }, 120_000);
});
