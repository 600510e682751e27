import type { Config } from '../../config.js';
import type { Database } from '../db/database.js';

/** A command-line mistake: the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {}

/** What a command is given, once it says it needs it (the database is opened and migrated first). */
export interface CommandContext {
  config: Config;
  database: Database;
}

/**
 * One group of `npm run admin -- <name> <command> …`, offered by a feature's cli.ts and listed
 * in src/cli.ts. Returns the exit status (0 when it returns nothing).
 */
export type CommandGroup =
  | {
      name: string;
      /** Its lines of `npm run admin -- help`. */
      usage: string;
      /** Lets two features share a name: `lists consent …` is the consent feature's. */
      takes?(command: string | undefined): boolean;
      needs: 'nothing';
      run(command: string | undefined, args: string[]): number | void | Promise<number | void>;
    }
  | {
      name: string;
      usage: string;
      takes?(command: string | undefined): boolean;
      needs: 'config';
      run(command: string | undefined, args: string[], context: Pick<CommandContext, 'config'>): number | void | Promise<number | void>;
    }
  | {
      name: string;
      usage: string;
      takes?(command: string | undefined): boolean;
      needs: 'database';
      run(command: string | undefined, args: string[], context: CommandContext): number | void | Promise<number | void>;
    };

/** The one positional argument a command takes. */
export function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}`);
  return positionals[0]!;
}

/** How the admin CLI marks what it did in the consent trail and logs. */
export const CLI_SOURCE = 'cli';
