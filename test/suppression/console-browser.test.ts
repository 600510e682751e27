import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser } from '../support/browser.js';
import { postJson } from '../support/http.js';
import { ADMIN_AUTH, startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service.js';

let t: TestService;
let browser: Browser;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'] });
  browser = await openBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe('the admin console in a real browser', () => {
  it('signs in, shows an entry, searches, lifts, adds and exports', async () => {
    await postJson(`${t.url}/admin/api/suppressions`, { email: 'browser.one@example.com', reason: 'bounced' }, ADMIN_AUTH);
    await postJson(`${t.url}/admin/api/suppressions`, { email: 'browser.two@elsewhere.example', reason: 'complained' }, ADMIN_AUTH);

    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });

    await page.goto(`${t.url}/admin`);
    await page.getByLabel('Admin token').fill('not-the-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.textContent('body')).toContain('That is not the admin token.');
    expect(await page.textContent('body')).not.toContain('browser.one');

    await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/admin');
    await page.getByRole('link', { name: 'Suppression list' }).click();
    await page.waitForURL('**/admin/suppressions');
    expect(await page.textContent('table')).toContain('browser.one@example.com');
    // The session cookie is not readable by scripts.
    expect(await page.evaluate('document.cookie')).toBe('');

    await page.getByRole('searchbox').fill('BROWSER.ONE@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=BROWSER\.ONE/);
    const rows = page.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('bounced');

    await rows.first().getByPlaceholder('Why lift it?').fill('confirmed by the person');
    await rows.first().getByRole('button', { name: 'Lift' }).click();
    await page.waitForURL(/notice=lifted/);
    expect(await page.textContent('body')).toContain('The entry was lifted');
    expect(await page.textContent('body')).not.toContain('browser.one@example.com');

    await page.getByLabel('Address to suppress').fill('Browser.Added@Example.com');
    await page.getByLabel('Reason for the new entry').selectOption('manual');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.waitForURL(/notice=added/);
    expect(await page.textContent('table')).toContain('browser.added@example.com');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /Download the whole list as CSV/ }).click(),
    ]);
    const csv = await readFile((await download.path())!, 'utf8');
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('email,reason,list,created_at,domain');
    expect(csv).toContain('browser.added@example.com,manual,,');
    expect(csv).toContain('browser.two@elsewhere.example,complained,,');
    expect(csv).not.toContain('browser.one@example.com');

    expect(cspViolations).toEqual([]);

    // The BullMQ dashboard sits behind the same sign-in, read-only.
    await page.getByRole('link', { name: 'Queue' }).click();
    await page.waitForURL('**/admin/queues**');
    await expect.poll(() => page.textContent('body'), { timeout: 10_000 }).toContain('mail (outbox messages)');
    const scriptViolations = cspViolations.filter((text) => /script/i.test(text));
    expect(scriptViolations).toEqual([]);
    await context.close();

    const signedOut = await browser.newContext();
    const stranger = await signedOut.newPage();
    await stranger.goto(`${t.url}/admin/queues`);
    expect(new URL(stranger.url()).pathname).toBe('/admin');
    await signedOut.close();
  });
});
