import { UsageError, type CommandGroup } from '../../platform/cli/command.js';
import { parseArgs } from 'node:util';
import type { Database } from '../../platform/db/database.js';
import { LOCALES, isLocale } from '../../platform/locales/locale.js';
import type { LocalizedText } from '../../platform/locales/localizedText.js';
import { checkConsentText, consentHistory, currentConsentStatement, setConsentStatement } from './service.js';
import { findListBySlug } from '../lists/index.js';

/** The usage lines of `lists consent`, shown by admin.ts with the others. */
const CONSENT_USAGE = `  lists consent <slug> --en "…" [--fr "…"]         (a new version of the list's consent statement)
  lists consent <slug> --text "…"                  (the same words for every locale)
  lists consent-show <slug>                        (the current version and every earlier one)`;

/**
 * `npm run admin -- lists consent|consent-show …`: a list's consent statement, as the API's
 * PUT /admin/api/lists/:slug/consent writes it (same versions, same checks).
 */
async function consentCommand(database: Database, command: string | undefined, args: string[]): Promise<void> {
  const localeOptions = Object.fromEntries(LOCALES.map((locale) => [locale, { type: 'string' as const }]));
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { text: { type: 'string' }, ...localeOptions } });
  if (positionals.length !== 1) throw new UsageError('expected one list slug');
  const slug = positionals[0]!;
  switch (command) {
    case 'consent': {
      const perLocale: Record<string, string> = {};
      for (const [key, value] of Object.entries(values)) if (isLocale(key) && typeof value === 'string') perLocale[key] = value;
      const given: LocalizedText | undefined =
        typeof values.text === 'string' ? values.text : Object.keys(perLocale).length ? perLocale : undefined;
      if (given === undefined)
        throw new UsageError(`give the words: --text "…" or one per locale (${LOCALES.map((l) => `--${l}`).join(', ')})`);
      const { version, created } = await setConsentStatement(database, slug, checkConsentText(given));
      process.stdout.write(`${JSON.stringify({ version, created })}\n`);
      return;
    }
    case 'consent-show': {
      const list = await findListBySlug(database, slug);
      const current = await currentConsentStatement(database, list);
      const versions = (await consentHistory(database, list.id)).map((s) => ({ ...s, createdAt: new Date(s.createdAt).toISOString() }));
      process.stdout.write(
        `${JSON.stringify({ version: current?.version ?? null, requireConsent: list.requireConsent, versions }, null, 2)}\n`,
      );
      return;
    }
    default:
      throw new UsageError(`unknown lists command "${command ?? ''}"`);
  }
}

/** `npm run admin -- lists consent …`: the consent statement's commands sit beside the lists'. */
export const commands: CommandGroup[] = [
  {
    name: 'lists',
    usage: CONSENT_USAGE,
    takes: (command) => command?.startsWith('consent') === true,
    needs: 'database',
    run: (command, args, { database }) => consentCommand(database, command, args),
  },
];
