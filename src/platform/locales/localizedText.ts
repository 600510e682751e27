import { DEFAULT_LOCALE, isLocale, LOCALES, type Locale } from './locale.js';

/**
 * Words an admin writes for people: one plain string for every locale, or one per locale
 * (`{"en": "Weekly news", "fr": "La lettre hebdomadaire"}`) so a sentence reads right in each.
 * Stored as JSON text (list descriptions, welcome messages, consent statements, broadcasts).
 */
export type LocalizedText = string | Partial<Record<Locale, string>>;

/** The words for `locale`: its own, else the default locale's, else the first one written. */
export function localize(text: LocalizedText, locale: Locale): string {
  if (typeof text === 'string') return text;
  return text[locale] ?? text[DEFAULT_LOCALE] ?? Object.values(text).find((value) => value !== undefined) ?? '';
}

/** The locales the text was written in; a plain string counts as written for all of them. */
export function localesOf(text: LocalizedText): Locale[] {
  return typeof text === 'string' ? [...LOCALES] : LOCALES.filter((locale) => text[locale] !== undefined);
}

export type LocalizedTextCheck = { ok: true; value: LocalizedText } | { ok: false; problem: string };

/**
 * Checks a value from a request: a non-empty string, or an object whose keys are known locales
 * and whose values are non-empty strings, each at most `maxLength` characters.
 */
export function checkLocalizedText(value: unknown, maxLength: number): LocalizedTextCheck {
  const checkOne = (text: unknown, where: string): string | null => {
    if (typeof text !== 'string' || text.trim() === '') return `${where} must be a non-empty string`;
    if (text.length > maxLength) return `${where} must be at most ${maxLength} characters`;
    return null;
  };
  if (typeof value === 'string') {
    const problem = checkOne(value, 'the text');
    return problem ? { ok: false, problem } : { ok: true, value: value.trim() };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problem: `must be a string or an object per locale (${LOCALES.join(', ')})` };
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return { ok: false, problem: `must name at least one locale (${LOCALES.join(', ')})` };
  const result: Partial<Record<Locale, string>> = {};
  for (const [locale, text] of entries) {
    if (!isLocale(locale)) return { ok: false, problem: `has an unknown locale "${locale}" (known: ${LOCALES.join(', ')})` };
    const problem = checkOne(text, `"${locale}"`);
    if (problem) return { ok: false, problem };
    result[locale] = (text as string).trim();
  }
  return { ok: true, value: result };
}

/** JSON text for a column. */
export function encodeLocalizedText(text: LocalizedText): string {
  return JSON.stringify(text);
}

/** The stored JSON back; a column that is not JSON (written by hand) reads as a plain string. */
export function decodeLocalizedText(stored: string): LocalizedText {
  try {
    const value: unknown = JSON.parse(stored);
    const check = checkLocalizedText(value, Number.MAX_SAFE_INTEGER);
    return check.ok ? check.value : stored;
  } catch {
    return stored;
  }
}

/** A list's name in `locale`: its per-locale name when it has one, else its plain name. */
export function listName(list: { name: string; nameByLocale: string | null }, locale: Locale): string {
  return list.nameByLocale === null ? list.name : localize(decodeLocalizedText(list.nameByLocale), locale) || list.name;
}
