/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * What the browser tests share: one Chromium, axe-core run in the page, a photograph of the page
 * for a person to look at, and the layout faults axe does not see (overflow, small buttons,
 * words cut in two). A new page joins the checks with `checkAxe(page, label)` and `screenshot(…)`.
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

/** One headless Chromium for a test file; contexts (one per width and locale) are cheap, browsers are not. */
export function openBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** Where photographs go: SCREENSHOTS_DIR, else ./screenshots (each test names its own folder under it). */
export const SCREENSHOTS_ROOT = path.resolve(process.env.SCREENSHOTS_DIR ?? 'screenshots');

/** Writes a full-page PNG to `screenshots/<folder>/<name>.png`, making the folder on first use. */
export async function screenshot(page: Page, folder: string, name: string): Promise<string> {
  const dir = path.join(SCREENSHOTS_ROOT, folder);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

let axeSource: string | undefined;

/**
 * axe-core's WCAG 2 A/AA rules (and its best practices, unless told not to: a mail has no
 * landmarks of its own) on the page as it stands, one readable
 * line per offending element. Evaluated through the DevTools protocol, which the pages'
 * Content-Security-Policy does not govern, so the pages are checked under their real headers.
 */
export async function checkAxe(page: Page, label: string, options: { bestPractices?: boolean } = {}): Promise<string[]> {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', ...(options.bestPractices === false ? [] : ['best-practice'])];
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async (values) => {
    const axe = (
      window as unknown as {
        axe: {
          run(
            context: Document,
            options: object,
          ): Promise<{
            violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] }[];
          }>;
        };
      }
    ).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values } });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: (n.failureSummary ?? '').replace(/\s+/g, ' ') })),
    }));
  }, tags);
  return violations.flatMap((v) => v.nodes.map((n) => `${label}: ${v.id} (${v.impact}): ${v.help}: ${n.target}: ${n.summary}`));
}

/** What a person would stumble on that axe does not measure. */
export interface LayoutFindings {
  overflow: string[];
  lowContrast: string[];
  smallButtons: string[];
  brokenWords: string[];
}

/**
 * Runs in the page (`page.evaluate(layoutFindings)`). Contrast follows WCAG 2 (relative
 * luminance; large text is 24 px, or 18.66 px bold); the background of a text is the first
 * opaque one up its ancestors. Buttons under `main` must be 44 px high. A word in a table
 * cell cut over two lines between two letters is a broken word (code and `.token` cells may
 * break anywhere; after a hyphen, slash, dot or "@" is fair).
 */
export function layoutFindings(): LayoutFindings {
  const parse = (color: string) => {
    const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(color);
    return m
      ? { rgb: [Number(m[1]), Number(m[2]), Number(m[3])], alpha: m[4] === undefined ? 1 : Number(m[4]) }
      : { rgb: [0, 0, 0], alpha: 0 };
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
  const describe = (e: Element) =>
    `<${e.tagName.toLowerCase()}${e.className ? `.${e.className}` : ''}> "${(e.textContent ?? '').trim().slice(0, 40)}"`;
  const findings: LayoutFindings = { overflow: [], lowContrast: [], smallButtons: [], brokenWords: [] };

  if (document.documentElement.scrollWidth > window.innerWidth)
    findings.overflow.push(`page is ${document.documentElement.scrollWidth}px wide`);
  const main = document.querySelector('main')?.getBoundingClientRect();
  if (main) {
    for (const e of document.querySelectorAll('main *')) {
      const r = e.getBoundingClientRect();
      if (r.width > 0 && r.right > main.right + 1 && !e.closest('td, th'))
        findings.overflow.push(`${describe(e)} ends at ${Math.round(r.right)} past the card (${Math.round(main.right)})`);
    }
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
    if (ratio < (large ? 3 : 4.5))
      findings.lowContrast.push(`${describe(e)}: ${ratio.toFixed(2)}:1 (${style.color} on rgb(${bg.join(', ')}))`);
  }

  for (const b of document.querySelectorAll('main button')) {
    const r = b.getBoundingClientRect();
    if (r.height < 44) findings.smallButtons.push(`${describe(b)} is ${Math.round(r.height)}px high`);
  }

  for (const cell of document.querySelectorAll('td, th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement?.closest('code, .token')) continue;
      for (const word of node.textContent!.matchAll(/\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (tops.size < 2) continue;
        const topOf = (i: number) => {
          range.setStart(node!, word.index + i);
          range.setEnd(node!, word.index + i + 1);
          return Math.round(range.getBoundingClientRect().top);
        };
        for (let i = 1; i < word[0].length; i++) {
          if (topOf(i) !== topOf(i - 1) && !/[-/.@?&=_]/.test(word[0][i - 1]!))
            findings.brokenWords.push(`"${word[0]}" cut after "${word[0].slice(0, i)}" in ${describe(cell)}`);
        }
      }
    }
  }
  return findings;
}
