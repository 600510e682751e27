import { ConfigError, loadConfig } from './config.js';
import { applyDataMigrations } from './dataMigrations.js';
import { AppError } from './errors.js';
import * as broadcasts from './features/broadcasts/index.js';
import * as consent from './features/consent/index.js';
import * as lists from './features/lists/index.js';
import * as sending from './features/sending/index.js';
import * as subscribers from './features/subscribers/index.js';
import * as suppression from './features/suppression/index.js';
import { UsageError, type CommandGroup } from './platform/cli/command.js';
import { dbCommands } from './platform/db/cli.js';
import { openDatabaseFromConfig, type Database } from './platform/db/database.js';
import { SUPPRESSION_REASONS } from './platform/db/schema.js';

/**
 * The admin tasks without a browser, straight on the database (same config as the service):
 * every feature's command groups, in the order `npm run admin -- help` lists them.
 */
const COMMANDS: readonly CommandGroup[] = [
  ...suppression.commands, // suppressions list|add|lift|export|import
  ...subscribers.commands.filter((c) => c.name === 'contacts'), // contacts show|erase
  ...lists.commands, // lists show|add|edit|archive
  ...consent.commands, // lists consent|consent-history
  ...broadcasts.commands, // broadcasts list|show|send|pause|resume|cancel
  ...subscribers.commands.filter((c) => c.name !== 'contacts'), // subscribers export
  ...sending.commands, // dkim generate (needs no configuration), sending check (needs no database)
  dbCommands(applyDataMigrations), // db migrate|copy (schema migrations; SQLite to PostgreSQL)
];

const USAGE = `usage: npm run admin -- <command>

${COMMANDS.map((c) => c.usage).join('\n')}

reasons: ${SUPPRESSION_REASONS.join(', ')}`;

async function main(argv: string[]): Promise<number> {
  const [name, command, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  let database: Database | undefined;
  try {
    const group = COMMANDS.find((c) => c.name === name && (c.takes?.(command) ?? true));
    if (!group) throw new UsageError(`unknown command "${name}"`);
    if (group.needs === 'nothing') return (await group.run(command, rest)) ?? 0;
    const config = loadConfig();
    if (group.needs === 'config') return (await group.run(command, rest, { config })) ?? 0;
    database = await openDatabaseFromConfig(config);
    for (const { name: migration, summary } of await applyDataMigrations(database, config.secrets))
      process.stderr.write(`data migration ${migration} applied: ${JSON.stringify(summary)}\n`);
    return (await group.run(command, rest, { config, database })) ?? 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    if (error instanceof AppError) process.stderr.write(`error: ${error.code}: ${error.message}\n`);
    else if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`);
    else process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  } finally {
    if (database) await database.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
