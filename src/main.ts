import { ConfigError, loadConfig } from './config.js';
import { DatabaseUnreachableError, MigrationsBehindError } from './platform/db/postgres.js';
import { createLogger } from './logger.js';
import { startService, type Role } from './runtime.js';

const SHUTDOWN_DEADLINE_MS = 9000;

function rolesFromArgs(args: string[]): Role[] {
  const known: Role[] = ['api', 'worker'];
  const asked = args.filter((arg) => !arg.startsWith('-'));
  if (asked.length === 0) return known;
  const unknown = asked.filter((arg) => !known.includes(arg as Role));
  if (unknown.length > 0) {
    console.error(`unknown role "${unknown[0]}": use "api", "worker", or nothing for both`);
    process.exit(2);
  }
  return asked as Role[];
}

async function main(): Promise<void> {
  const roles = rolesFromArgs(process.argv.slice(2));
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`config: ${problem}`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let service;
  try {
    service = await startService(config, roles, logger);
  } catch (error) {
    // Not a bug but the operator's to fix: one sentence (which server, which command), no stack.
    if (error instanceof DatabaseUnreachableError || error instanceof MigrationsBehindError) {
      console.error(`database: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  logger.info({ roles }, 'optin started');

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    service.stop().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
