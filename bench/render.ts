import { readFile } from 'node:fs/promises';
import path from 'node:path';
import mjml2html from 'mjml';
import { loadTemplates, renderMessage, TEMPLATES_FOLDER } from '../src/platform/mail/templates.js';
import { round } from './stats.js';

export interface RenderResults {
  precompiledUs: number;
  mjml2htmlUs: number;
  ratio: number;
}

const VARIABLES = {
  listName: 'Newsletter',
  siteLabel: 'Example News at news.example.com',
  validDays: '7',
  confirmUrl: 'http://optin.bench/confirm?token=eyJhbGciOiJIUzI1NiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU',
  unsubscribeUrl: 'http://optin.bench/unsubscribe?token=eyJhbGciOiJIUzI1NiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU',
};

/** Per-message cost of the precompiled template against compiling the MJML for every message. */
export async function benchRendering(): Promise<RenderResults> {
  const templates = await loadTemplates();
  const file = path.join(TEMPLATES_FOLDER, 'en', 'confirmation.mjml');
  const source = await readFile(file, 'utf8');

  const precompiledRuns = 50_000;
  for (let i = 0; i < 5000; i++) renderMessage(templates, 'en', 'confirmation', VARIABLES);
  let start = performance.now();
  for (let i = 0; i < precompiledRuns; i++) renderMessage(templates, 'en', 'confirmation', { ...VARIABLES, listName: `Newsletter ${i}` });
  const precompiledUs = ((performance.now() - start) * 1000) / precompiledRuns;

  const fullRuns = 40;
  const fullMessage = (i: number) =>
    mjml2html(
      source.replace(/\{\{(\w+)\}\}/g, (_, name: keyof typeof VARIABLES) => (name === 'listName' ? `Newsletter ${i}` : VARIABLES[name])),
      { validationLevel: 'strict', filePath: file },
    );
  for (let i = 0; i < 5; i++) await fullMessage(i);
  start = performance.now();
  for (let i = 0; i < fullRuns; i++) await fullMessage(i);
  const mjml2htmlUs = ((performance.now() - start) * 1000) / fullRuns;

  return { precompiledUs: round(precompiledUs, 2), mjml2htmlUs: round(mjml2htmlUs, 0), ratio: Math.round(mjml2htmlUs / precompiledUs) };
}
