import { en, type Strings } from './en.js';
import { fr } from './fr.js';

/**
 * The locales optin speaks. Adding one takes a strings file here (a copy of en.ts, translated;
 * the type checks that no key is missing), a folder of mail templates in templates/<code>/, and
 * its line below.
 */
export const LOCALE_STRINGS = { en, fr } satisfies Record<string, Strings>;
