import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LOCALE_STRINGS } from '../../src/platform/locales/index.js';
import { LOCALES } from '../../src/platform/locales/locale.js';
import { TEMPLATES_FOLDER } from '../../src/platform/mail/templates.js';
import { frenchTypographyFaults } from '../support/typography.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/** Every leaf of a strings tree as [dotted key, value], functions called with sample arguments. */
function leaves(tree: object, prefix = ''): [string, string | ((...args: never[]) => string)][] {
  return Object.entries(tree).flatMap(([key, value]) =>
    value !== null && typeof value === 'object' ? leaves(value as object, `${prefix}${key}.`) : [[`${prefix}${key}`, value as string]],
  );
}

const SAMPLE_ARGS = ['la lettre hebdomadaire', 'news.example.com'];
const rendered = (value: string | ((...args: never[]) => string)) =>
  typeof value === 'function' ? (value as (...args: unknown[]) => string)(...SAMPLE_ARGS.slice(0, value.length)) : value;

/** The words of a mail template: tags, comments and placeholders taken out. */
function templateWords(source: string): string {
  return source
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\{\{\w+\}\}/g, 'X');
}

describe('locales', () => {
  it('has every string key in every locale, of the same kind', () => {
    const reference = new Map(
      leaves(LOCALE_STRINGS.en).map(([key, value]) => [key, typeof value === 'function' ? `function/${value.length}` : typeof value]),
    );
    for (const locale of LOCALES) {
      const keys = new Map(
        leaves(LOCALE_STRINGS[locale]).map(([key, value]) => [
          key,
          typeof value === 'function' ? `function/${value.length}` : typeof value,
        ]),
      );
      expect(keys, locale).toEqual(reference);
      for (const [key, value] of leaves(LOCALE_STRINGS[locale])) expect(rendered(value).trim(), `${locale} ${key}`).not.toBe('');
    }
  });

  it('has a folder of mail templates for every locale, and a locale for every folder', () => {
    const folders = readdirSync(TEMPLATES_FOLDER, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect([...folders].sort()).toEqual([...LOCALES].sort());
  });

  it('writes French with no-break spaces before : ; ! ? and inside « », and typographic apostrophes', () => {
    const faults = leaves(LOCALE_STRINGS.fr).flatMap(([key, value]) =>
      frenchTypographyFaults(rendered(value)).map((fault) => `strings ${key}: ${fault}`),
    );
    for (const file of readdirSync(path.join(TEMPLATES_FOLDER, 'fr'))) {
      faults.push(
        ...frenchTypographyFaults(templateWords(readFileSync(path.join(TEMPLATES_FOLDER, 'fr', file), 'utf8'))).map(
          (fault) => `templates/fr/${file}: ${fault}`,
        ),
      );
    }
    expect(faults).toEqual([]);
    // The check itself catches what it is for.
    expect(frenchTypographyFaults('Merci : oui ! « non »')).toHaveLength(4);
  });

  it('has a sentence in every locale for every error code a subscriber can meet', () => {
    const CONSOLE_ONLY = new Set([
      'platform/http/console.ts',
      'platform/http/consoleFrame.ts',
      'platform/http/adminSession.ts',
      'platform/http/adminAuth.ts',
    ]);
    // The code each public route can answer with: AppErrors in the files those routes import.
    const seen = new Set<string>();
    const queue = ['features/signup/public.ts', 'features/optout/public.ts', 'app.ts'];
    const codes = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop()!;
      // The console's machinery answers admins only (in English), whatever page module imports its layout.
      if (seen.has(file) || CONSOLE_ONLY.has(file)) continue;
      seen.add(file);
      const source = readFileSync(path.join(SRC, file), 'utf8');
      for (const match of source.matchAll(/(?:new AppError|super)\(\s*[\w.]+,\s*'([a-z_]+)'/g)) codes.add(match[1]!);
      for (const match of source.matchAll(/requiredText\([^)]*'([a-z_]+)'\)/g)) codes.add(match[1]!);
      // app.ts also mounts the admin and webhook routes: their codes are for programs and admins.
      if (file === 'app.ts') continue;
      for (const match of source.matchAll(/^import (?!type )([^;]*?) from '(\.[^']+)\.js';/gm)) {
        const target = path.join(path.dirname(file), `${match[2]}.ts`);
        if (path.basename(target) !== 'index.ts') {
          queue.push(target);
          continue;
        }
        // A feature's index.ts: follow only the modules that export the names imported from it.
        const names = [...match[1]!.matchAll(/\b(?<!type )([A-Za-z_$][\w$]*)\b/g)].map((m) => m[1]!);
        const index = readFileSync(path.join(SRC, target), 'utf8');
        for (const line of index.matchAll(/^export \{([^}]*)\} from '(\.[^']+)\.js';/gm)) {
          if (names.some((name) => new RegExp(`\\b${name}\\b`).test(line[1]!)))
            queue.push(path.join(path.dirname(target), `${line[2]}.ts`));
        }
      }
    }
    // The lists service keeps the admin's list editing beside the look-ups every signup makes.
    for (const code of ['invalid_list', 'list_exists', 'list_in_use']) codes.delete(code);
    expect(codes.size).toBeGreaterThan(15);
    for (const locale of LOCALES) {
      const missing = [...codes].filter((code) => !Object.hasOwn(LOCALE_STRINGS[locale].errors, code));
      expect(missing, `${locale}: error codes without a sentence`).toEqual([]);
    }
  });
});
