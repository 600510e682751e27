import { createReadStream, createWriteStream, existsSync, statSync, writeFileSync, type ReadStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { count } from 'drizzle-orm';
import { ConfigError, loadConfig, type Config } from './config.js';
import { closeDatabase, openDatabase } from './platform/db/client.js';
import { causeMessage, copySqliteToPostgres, CopyError, type TableCount } from './platform/db/copy.js';
import { openDatabaseFromConfig, openSqliteDatabase, postgresDatabase, type Database } from './platform/db/database.js';
import { applyDataMigrations } from './platform/db/dataMigrations.js';
import { closePostgres, describeServer, migratePostgres, MigrationsBehindError, openPostgres, postgresMigrationStatus, type PgDb } from './platform/db/postgres.js';
import { SUPPRESSION_REASONS, type SuppressionReason } from './platform/db/schema.js';
import { AppError } from './errors.js';
import { DKIM_KEY_TYPES, dkimKey, dkimRecordName, dkimRecordValue, generateDkimKey, isDkimDomain, isDkimSelector, type DkimKeyType } from './platform/mail/dkim.js';
import { checkSendingSetup, dnsTxtResolver, liveSummary, sendingSetupComplete } from './features/sending/service.js';
import { contactRecord } from './features/subscribers/contactRecord.js';
import { eraseContact } from './features/subscribers/erasure.js';
import { csvRecords, importSuppressions, suppressionCsvChunks } from './features/suppression/csv.js';
import { addSuppression, liftSuppression, listSuppressions } from './features/suppression/service.js';
import { listsCommand, ListsUsageError, LISTS_USAGE } from './features/lists/cli.js';
import { consentCommand, ConsentUsageError, CONSENT_USAGE } from './features/consent/cli.js';
import { progressBar } from './platform/cli/progress.js';
import { broadcastsCommand, BROADCASTS_USAGE } from './features/broadcasts/cli.js';
import { subscribersCommand, SUBSCRIBERS_USAGE } from './features/subscribers/cli.js';

/**
 * The admin tasks without a browser, straight on the database (same config as the service):
 *   npm run admin -- suppressions list|add|lift|export|import …
 *   npm run admin -- contacts show|erase …
 *   npm run admin -- lists show|add|edit|archive …
 *   npm run admin -- broadcasts list|show|send|pause|resume|cancel …
 *   npm run admin -- subscribers export <list> …
 *   npm run admin -- dkim generate …      (needs no configuration)
 *   npm run admin -- sending check        (needs no database)
 *   npm run admin -- db migrate|copy …    (schema migrations; SQLite to PostgreSQL)
 */
const USAGE = `usage: npm run admin -- <command>

  suppressions list [--q text] [--reason r] [--list slug|*] [--limit n] [--cursor c]
  suppressions add <email> [--reason r] [--list slug]
  suppressions lift <id> --reason "why"
  suppressions export [--output file.csv]          (stdout by default)
  suppressions import <file.csv|->                 (- reads stdin)
  contacts show <email>
  contacts erase <email> --yes
${LISTS_USAGE}
${CONSENT_USAGE}
${BROADCASTS_USAGE}
${SUBSCRIBERS_USAGE}
  dkim generate --selector s1 --domain example.com [--type rsa|ed25519] [--out file.pem]
  sending check                                    (exit 1 unless every record is found)
  db migrate                                       (DATABASE_URL, else DATABASE_PATH)
  db copy --to postgres://user:pass@host:5432/db   (DATABASE_PATH's data into a new database)

reasons: ${SUPPRESSION_REASONS.join(', ')}`;

class UsageError extends Error {}

const SOURCE = 'cli';

function reasonOf(value: string | undefined): SuppressionReason | undefined {
  if (value === undefined) return undefined;
  if ((SUPPRESSION_REASONS as readonly string[]).includes(value)) return value as SuppressionReason;
  throw new UsageError(`unknown reason "${value}"`);
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}`);
  return positionals[0]!;
}

async function suppressionsCommand(database: Database, secrets: readonly string[], command: string | undefined, args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { q: { type: 'string' }, reason: { type: 'string' }, list: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, output: { type: 'string' } },
  });
  switch (command) {
    case 'list': {
      const limit = Number(values.limit ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000');
      const page = await listSuppressions(database, secrets, { q: values.q, reason: reasonOf(values.reason), list: values.list, limit, cursor: values.cursor });
      process.stdout.write('id\temail\treason\tlist\tsource\tcreated_at\n');
      for (const item of page.items) process.stdout.write(`${item.id}\t${item.email ?? '(erased)'}\t${item.reason}\t${item.list ?? '*'}\t${item.source}\t${item.createdAt}\n`);
      if (page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
      return;
    }
    case 'add': {
      const { item, created } = await addSuppression(database, secrets, { email: one(positionals, 'address'), reason: reasonOf(values.reason) ?? 'manual', list: values.list, source: SOURCE });
      process.stdout.write(`${created ? 'added' : 'already present'}: ${JSON.stringify(item)}\n`);
      return;
    }
    case 'lift': {
      const id = Number(one(positionals, 'entry id'));
      if (!Number.isInteger(id) || id < 1) throw new UsageError('the entry id is a whole number');
      if (!values.reason?.trim()) throw new UsageError('say why with --reason "…"');
      await liftSuppression(database, { id, reason: values.reason, by: SOURCE });
      process.stdout.write(`lifted entry ${id}\n`);
      return;
    }
    case 'export': {
      const total = (await database.db.select({ n: count() }).from(database.tables.suppressions))[0]!.n;
      const bar = progressBar('exported', total);
      let rows = 0;
      const out = values.output ? createWriteStream(values.output) : process.stdout;
      await pipeline(Readable.from(suppressionCsvChunks(database, (n) => bar.update((rows = n)))), out);
      bar.finish(rows, ' rows');
      return;
    }
    case 'import': {
      const file = one(positionals, 'CSV file (or - for stdin)');
      const input = file === '-' ? process.stdin : createReadStream(file);
      const size = file === '-' ? undefined : statSync(file).size;
      const bar = progressBar('imported', size);
      const bytesRead = () => (file === '-' ? 0 : (input as ReadStream).bytesRead);
      const counts = await importSuppressions(database, secrets, csvRecords(input), { source: SOURCE, onProgress: (_c, rows) => bar.update(size ? bytesRead() : rows) });
      bar.finish(size ?? counts.added + counts.alreadyPresent + counts.invalid, size ? ' bytes' : ' rows');
      process.stdout.write(`${JSON.stringify(counts, null, 2)}\n`);
      return;
    }
    default:
      throw new UsageError(`unknown suppressions command "${command ?? ''}"`);
  }
}

async function contactsCommand(database: Database, secrets: readonly string[], command: string | undefined, args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { yes: { type: 'boolean' } } });
  switch (command) {
    case 'show':
      process.stdout.write(`${JSON.stringify(await contactRecord(database, secrets, one(positionals, 'address')), null, 2)}\n`);
      return;
    case 'erase': {
      const email = one(positionals, 'address');
      if (!values.yes) throw new UsageError('erasure cannot be undone: add --yes to go ahead');
      await eraseContact(database, secrets, email, SOURCE);
      process.stdout.write('erased: only a keyed hash stays on the suppression list\n');
      return;
    }
    default:
      throw new UsageError(`unknown contacts command "${command ?? ''}"`);
  }
}

/** A DNS TXT value as zone files want it: quoted strings of at most 255 characters. */
function zoneFileStrings(value: string): string {
  return (value.match(/.{1,255}/g) ?? []).map((part) => `"${part}"`).join(' ');
}

function dkimCommand(command: string | undefined, args: string[]): void {
  if (command !== 'generate') throw new UsageError(`unknown dkim command "${command ?? ''}"`);
  const { values } = parseArgs({ args, options: { selector: { type: 'string' }, domain: { type: 'string' }, type: { type: 'string', default: 'rsa' }, out: { type: 'string' } } });
  const selector = values.selector ?? '';
  const domain = (values.domain ?? '').toLowerCase();
  if (!isDkimSelector(selector)) throw new UsageError('--selector: letters, digits and "-", e.g. s1 or 2026a');
  if (!isDkimDomain(domain)) throw new UsageError('--domain: the signing domain, e.g. example.com');
  if (!(DKIM_KEY_TYPES as readonly string[]).includes(values.type)) throw new UsageError(`--type: ${DKIM_KEY_TYPES.join(' or ')}`);
  const type = values.type as DkimKeyType;
  const file = path.resolve(values.out ?? `${dkimRecordName(selector, domain)}.pem`);
  const pem = generateDkimKey(type);
  try {
    // 'wx': a key already in use is never replaced by accident.
    writeFileSync(file, pem, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${file} already exists: it was not overwritten (choose another --out)`);
    throw error;
  }
  const name = dkimRecordName(selector, domain);
  const value = dkimRecordValue(dkimKey(selector, pem).privateKey);
  process.stdout.write(`Wrote a new ${type === 'rsa' ? 'RSA-2048' : 'Ed25519'} private key to ${file} (readable by its owner only).

Publish this DNS TXT record:
  name:  ${name}
  value: ${value}

In a zone file:
  ${name}. IN TXT ( ${zoneFileStrings(value)} )

Then set:
  DKIM_DOMAIN=${domain}
  DKIM_SELECTOR=${selector}
  DKIM_PRIVATE_KEY_FILE=${file}
${type === 'ed25519' ? '\nNot every receiver checks Ed25519 signatures: sign with an RSA key beside it\n(DKIM_SELECTOR=<rsa selector>,' + selector + ' and both files, comma-separated, in DKIM_PRIVATE_KEY_FILE).\n' : ''}
Check what DNS answers with: npm run admin -- sending check
`);
}

async function sendingCommand(config: Config, command: string | undefined, args: string[]): Promise<number> {
  if (command !== 'check') throw new UsageError(`unknown sending command "${command ?? ''}"`);
  parseArgs({ args, options: {} });
  const setup = await checkSendingSetup(config, dnsTxtResolver(config.dnsServers));
  const out: string[] = [`Sending setup for ${config.mailFrom}`, ''];
  for (const warning of setup.warnings) out.push(`warning: ${warning}`, '');
  for (const record of setup.records) {
    out.push(`${record.kind} TXT ${record.name}`);
    out.push(`  publish: ${record.value ?? '(nothing yet)'}`);
    out.push(`  live:    ${liveSummary(record.live)}`);
    out.push(`  why:     ${record.purpose}`, '');
  }
  const complete = sendingSetupComplete(setup);
  if (setup.dnsUnreachable) out.push(`DNS could not be reached (${setup.dnsUnreachable}): nothing was checked; the records above are what to publish.`);
  else if (complete) out.push('Every record is published as advised.');
  else out.push(`${setup.records.filter((r) => r.live.status !== 'found').length} of ${setup.records.length} records are not published as advised.`);
  process.stdout.write(`${out.join('\n')}\n`);
  return complete ? 0 : 1;
}

/**
 * Brings a SQLite file up to this build's schema (creating it when absent, as a start would) and
 * returns the migrations it applied. The file is first opened without migrating: when it is
 * behind, that refusal names exactly what migrating it will apply.
 */
function migrateSqliteFile(file: string): string[] {
  let pending: string[] = [];
  try {
    closeDatabase(openDatabase(file, { migrate: false }));
  } catch (error) {
    if (!(error instanceof MigrationsBehindError)) throw error;
    pending = error.pending;
    closeDatabase(openDatabase(file, { migrate: true }));
  }
  return pending;
}

/** Reports the data migrations a database has just had (they need the secrets, so they run as code). */
async function applyAndReportDataMigrations(database: Database, secrets: readonly string[]): Promise<number> {
  const ran = await applyDataMigrations(database, secrets);
  for (const { name, summary } of ran) process.stdout.write(`applied data migration ${name}: ${JSON.stringify(summary)}\n`);
  return ran.length;
}

/** Applies the pending migrations of migrations/pg and says which; they run under an advisory lock (see migratePostgres). */
async function migratePostgresReporting(db: PgDb, out: NodeJS.WritableStream, prefix = ''): Promise<string[]> {
  const { pending, databaseIsAhead } = await postgresMigrationStatus(db);
  if (databaseIsAhead) process.stderr.write('warning: the database was migrated by a newer build than this one\n');
  await migratePostgres(db);
  for (const tag of pending) out.write(`${prefix}applied ${tag}\n`);
  return pending;
}

function sqliteError(file: string, error: unknown): Error {
  return error instanceof MigrationsBehindError ? error : new Error(`the SQLite database at ${path.resolve(file)} cannot be opened: ${(error as Error).message}`);
}

/** `db migrate`: the schema (then data) migrations of the configured database, as a deploy step of its own. */
async function dbMigrate(config: Config): Promise<void> {
  let where: string;
  let applied: number;
  if (config.databaseUrl !== undefined) {
    where = `PostgreSQL at ${describeServer(config.databaseUrl)}`;
    // No statement timeout: building an index on a large table may take longer than a request should.
    const db = await openPostgres(config.databaseUrl, { poolMax: 2, statementTimeoutMs: 0 });
    const database = postgresDatabase(db);
    try {
      applied = (await migratePostgresReporting(db, process.stdout)).length;
      applied += await applyAndReportDataMigrations(database, config.secrets);
    } finally {
      await database.close();
    }
  } else {
    where = `SQLite at ${path.resolve(config.databasePath)}`;
    let schema: string[];
    try {
      schema = migrateSqliteFile(config.databasePath);
    } catch (error) {
      throw sqliteError(config.databasePath, error);
    }
    for (const tag of schema) process.stdout.write(`applied ${tag}\n`);
    const database = openSqliteDatabase(config.databasePath);
    try {
      applied = schema.length + (await applyAndReportDataMigrations(database, config.secrets));
    } finally {
      await database.close();
    }
  }
  process.stdout.write(applied > 0 ? `${where}: ${applied} migration(s) applied\n` : `${where}: up to date, nothing applied\n`);
}

function printCounts(counts: readonly TableCount[]): void {
  const width = Math.max(5, ...counts.map((c) => c.table.length));
  const lines = [`${'table'.padEnd(width)}  ${'sqlite'.padStart(10)}  ${'postgresql'.padStart(10)}`];
  for (const c of counts) lines.push(`${c.table.padEnd(width)}  ${String(c.source).padStart(10)}  ${String(c.target).padStart(10)}${c.source === c.target ? '' : '  MISMATCH'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * `db copy --to URL`: the SQLite installation at DATABASE_PATH into a new PostgreSQL database
 * (see src/db/copy.ts). Stop the service first: the copy reads one snapshot of the file, and
 * what is written after it stays behind.
 */
async function dbCopy(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { to: { type: 'string' } } });
  if (!values.to) throw new UsageError('say where to copy to: --to postgres://user:pass@host:5432/database');
  let protocol: string;
  try {
    protocol = new URL(values.to).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') throw new UsageError('--to: a PostgreSQL URL, postgres://user:pass@host:5432/database');
  const file = config.databasePath;
  if (file === ':memory:' || !existsSync(file)) throw new Error(`there is no SQLite database at ${path.resolve(file)} (DATABASE_PATH): nothing to copy`);

  let source: ReturnType<typeof openDatabase>;
  try {
    // Read with this build's schema: the file gets the migrations any start of this build would give it.
    for (const tag of migrateSqliteFile(file)) process.stderr.write(`source ${path.resolve(file)}: applied ${tag}\n`);
    source = openDatabase(file, { migrate: false });
  } catch (error) {
    throw sqliteError(file, error);
  }
  const server = describeServer(values.to);
  let target: PgDb | undefined;
  let bar: ReturnType<typeof progressBar> | undefined;
  let copied = 0;
  try {
    target = await openPostgres(values.to, { poolMax: 1, statementTimeoutMs: config.databaseStatementTimeoutMs });
    await migratePostgresReporting(target, process.stderr, `target ${server}: `);
    const counts = await copySqliteToPostgres(source, target, {
      onProgress(done, total) {
        bar ??= progressBar('copied', total);
        bar.update((copied = done));
      },
    });
    bar?.finish(copied, ' rows');
    bar = undefined;
    printCounts(counts);
    process.stdout.write(`copied ${path.resolve(file)} to PostgreSQL at ${server}: every table's row count matches\n`);
    return 0;
  } catch (error) {
    if (copied > 0) bar?.finish(copied, ' rows');
    if (error instanceof CopyError && error.counts.length > 0) printCounts(error.counts);
    // The copy is one transaction: whatever stopped it, PostgreSQL rolled back what it had written.
    process.stderr.write(`error: ${causeMessage(error)}; nothing was copied to ${server}\n`);
    return 1;
  } finally {
    closeDatabase(source);
    if (target) await closePostgres(target);
  }
}

async function dbCommand(config: Config, command: string | undefined, args: string[]): Promise<number> {
  switch (command) {
    case 'migrate':
      parseArgs({ args, options: {} });
      await dbMigrate(config);
      return 0;
    case 'copy':
      return dbCopy(config, args);
    default:
      throw new UsageError(`unknown db command "${command ?? ''}"`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [group, command, ...rest] = argv;
  if (group === undefined || group === 'help' || group === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return group === undefined ? 2 : 0;
  }
  let database: Database | undefined;
  try {
    if (group === 'dkim') {
      dkimCommand(command, rest);
      return 0;
    }
    const config = loadConfig();
    if (group === 'sending') return await sendingCommand(config, command, rest);
    // Before the database is opened: migrating it is what these commands do.
    if (group === 'db') return await dbCommand(config, command, rest);
    database = await openDatabaseFromConfig(config);
    for (const { name, summary } of await applyDataMigrations(database, config.secrets)) process.stderr.write(`data migration ${name} applied: ${JSON.stringify(summary)}\n`);
    if (group === 'suppressions') await suppressionsCommand(database, config.secrets, command, rest);
    else if (group === 'contacts') await contactsCommand(database, config.secrets, command, rest);
    else if (group === 'lists' && command?.startsWith('consent')) await consentCommand(database, command, rest);
    else if (group === 'lists') await listsCommand(database, config, command, rest);
    else if (group === 'broadcasts') await broadcastsCommand(database, command, rest, (message) => new UsageError(message));
    else if (group === 'subscribers') await subscribersCommand(database, config, command, rest);
    else throw new UsageError(`unknown command "${group}"`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof ListsUsageError || error instanceof ConsentUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
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
