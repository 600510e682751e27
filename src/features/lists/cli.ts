import { UsageError, type CommandGroup } from '../../platform/cli/command.js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Config } from '../../config.js';
import type { Database } from '../../platform/db/database.js';
import { createList, getList, listLists, listRules, updateList } from './service.js';
import { localize } from '../../platform/locales/localizedText.js';
import { DEFAULT_LOCALE } from '../../platform/locales/locale.js';

/** `npm run admin -- lists …`: its lines of the admin CLI's usage. */
const LISTS_USAGE = `  lists show [slug]                                (every list with its counts; one list as JSON)
  lists add <slug> --name "Weekly news" [list options]
  lists edit <slug> [list options]                 (only the options given change; "" clears one)
  lists archive <slug> [--undo]                    (no more signups; opt-outs keep working)

list options: --name, --description, --welcome-message (text, or JSON per locale: '{"en":"…","fr":"…"}'),
  --welcome-file file.md, --thank-you-url, --confirmed-url, --from-name, --from-email,
  --public true|false, --goodbye-email true|false, --remind-unconfirmed true|false, --require-consent true|false`;

const OPTIONS = {
  name: { type: 'string' },
  description: { type: 'string' },
  'welcome-message': { type: 'string' },
  'welcome-file': { type: 'string' },
  'thank-you-url': { type: 'string' },
  'confirmed-url': { type: 'string' },
  'from-name': { type: 'string' },
  'from-email': { type: 'string' },
  public: { type: 'string' },
  'goodbye-email': { type: 'string' },
  'remind-unconfirmed': { type: 'string' },
  'require-consent': { type: 'string' },
  undo: { type: 'boolean' },
} as const;

/** Text as given, or the per-locale object it spells as JSON; "" clears. */
const localized = (value: string | undefined) => {
  if (value === undefined) return undefined;
  if (value === '') return null;
  if (value.trim().startsWith('{')) {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      throw new UsageError(`not valid JSON: ${value}`);
    }
  }
  return value;
};
const cleared = (value: string | undefined) => (value === '' ? null : value);
const flag = (option: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw new UsageError(`--${option} is true or false`);
  return value === 'true';
};

/** The options as the lists API's JSON: the domain checks them as it checks the API's. */
function listInput(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const text = (option: string) => values[option] as string | undefined;
  if (text('welcome-message') !== undefined && text('welcome-file') !== undefined)
    throw new UsageError('give --welcome-message or --welcome-file, not both');
  const input: Record<string, unknown> = {
    name: localized(text('name')),
    description: localized(text('description')),
    welcomeMessage: text('welcome-file') !== undefined ? readFileSync(text('welcome-file')!, 'utf8') : localized(text('welcome-message')),
    thankYouUrl: cleared(text('thank-you-url')),
    confirmedUrl: cleared(text('confirmed-url')),
    fromName: cleared(text('from-name')),
    fromEmail: cleared(text('from-email')),
    public: flag('public', text('public')),
    goodbyeEmail: flag('goodbye-email', text('goodbye-email')),
    remindUnconfirmed: flag('remind-unconfirmed', text('remind-unconfirmed')),
    requireConsent: flag('require-consent', text('require-consent')),
  };
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
}

function onlySlug(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError('expected one list slug');
  return positionals[0]!;
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

/** Runs `lists show|add|edit|archive`; domain refusals come back as AppErrors (400 invalid_list, 404, 409). */
async function listsCommand(
  database: Database,
  config: Pick<Config, 'mailFrom' | 'dkim'>,
  command: string | undefined,
  args: string[],
): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
  const rules = listRules(config);
  switch (command) {
    case 'show': {
      if (positionals.length === 1) {
        print(await getList(database, positionals[0]!));
        return;
      }
      if (positionals.length > 1) throw new UsageError('expected at most one list slug');
      process.stdout.write('slug\tname\tpending\tconfirmed\tunsubscribed\tarchived\n');
      for (const list of await listLists(database)) {
        process.stdout.write(
          `${list.slug}\t${localize(list.name, DEFAULT_LOCALE)}\t${list.counts.pending}\t${list.counts.confirmed}\t${list.counts.unsubscribed}\t${list.archived}\n`,
        );
      }
      return;
    }
    case 'add':
      print(await createList(database, rules, { slug: onlySlug(positionals), ...listInput(values) }));
      return;
    case 'edit':
      print(await updateList(database, rules, onlySlug(positionals), listInput(values)));
      return;
    case 'archive':
      print(await updateList(database, rules, onlySlug(positionals), { archived: !values.undo }));
      return;
    default:
      throw new UsageError(`unknown lists command "${command ?? ''}"`);
  }
}

/** `npm run admin -- lists …` (but `lists consent …`, the consent feature's). */
export const commands: CommandGroup[] = [
  {
    name: 'lists',
    usage: LISTS_USAGE,
    takes: (command) => command?.startsWith('consent') !== true,
    needs: 'database',
    run: (command, args, { database, config }) => listsCommand(database, config, command, args),
  },
];
