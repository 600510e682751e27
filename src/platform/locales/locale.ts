import { LOCALE_STRINGS } from './index.js';
import type { Strings } from './en.js';

/** The locales of src/locales/index.ts: each has its strings and its folder of mail templates. */
export type Locale = keyof typeof LOCALE_STRINGS;
export const LOCALES = Object.keys(LOCALE_STRINGS) as readonly Locale[];
export const DEFAULT_LOCALE: Locale = 'en';

/** Every word of pages and error pages in one locale (the mail's own words are in its templates). */
export function stringsOf(locale: Locale): Strings {
  return LOCALE_STRINGS[locale];
}

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

/** Picks the first supported language of an Accept-Language header, by quality then order. */
export function localeFromAcceptLanguage(header: string | undefined): Locale | undefined {
  if (!header) return undefined;
  const ranked = header
    .split(',')
    .slice(0, 20)
    .map((part, order) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { language: tag.split('-')[0]!.toLowerCase(), quality: q === undefined ? 1 : Number(q), order };
    })
    .filter((entry) => entry.quality > 0)
    .sort((a, b) => b.quality - a.quality || a.order - b.order);
  return ranked.map((entry) => entry.language).find(isLocale);
}
