import { CLI_SOURCE, one, UsageError, type CommandGroup } from '../../platform/cli/command.js';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { count } from 'drizzle-orm';
import { type Config } from '../../config.js';
import { type Database } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import { contactRecord } from './contactRecord.js';
import { eraseContact } from './erasure.js';
import { progressBar } from '../../platform/cli/progress.js';
import { and, eq } from 'drizzle-orm';
import { findListBySlug } from '../lists/index.js';
import { statusOf, subscriberBatches, subscriberCsvChunks, subscriberNdjsonChunks } from './service.js';

/** How `npm run admin` describes these commands. */
const SUBSCRIBERS_USAGE = `  subscribers export <list> [--status confirmed|pending|unsubscribed] [--format csv|ndjson] [--output file]
                                                   (stdout by default; confirmed by default)`;

/**
 * `npm run admin -- subscribers export <list>`: the same rows as the API's subscribers.csv (the
 * gate leaves suppressed addresses out of `confirmed`), streamed in batches to stdout or a file,
 * with a progress line on stderr.
 */
async function subscribersCommand(database: Database, config: Config, command: string | undefined, args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { status: { type: 'string' }, format: { type: 'string' }, output: { type: 'string' } },
  });
  if (command !== 'export')
    throw new AppError(400, 'unknown_command', `unknown subscribers command "${command ?? ''}"; try: subscribers export <list>`);
  if (positionals.length !== 1) throw new AppError(400, 'missing_list', 'name one list: subscribers export <list>');
  const format = values.format ?? 'csv';
  if (format !== 'csv' && format !== 'ndjson') throw new AppError(400, 'invalid_format', 'the format must be csv or ndjson');
  const status = statusOf(values.status);
  const list = await findListBySlug(database, positionals[0]!);
  const { subscriptions } = database.tables;
  // The subscriptions with that status: the bar's end (the gate may leave a few out).
  const total = (
    await database.db
      .select({ n: count() })
      .from(subscriptions)
      .where(and(eq(subscriptions.listId, list.id), eq(subscriptions.status, status)))
  )[0]!.n;
  const bar = progressBar('exported', Number(total));
  let rows = 0;
  async function* counted() {
    for await (const batch of subscriberBatches(database, { publicUrl: config.publicUrl, secrets: config.secrets }, list.slug, status)) {
      rows += batch.length;
      bar.update(rows);
      yield batch;
    }
  }
  const chunks = format === 'csv' ? subscriberCsvChunks(counted()) : subscriberNdjsonChunks(counted());
  await pipeline(Readable.from(chunks), values.output ? createWriteStream(values.output) : process.stdout);
  bar.finish(rows, ' rows');
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
      await eraseContact(database, secrets, email, CLI_SOURCE);
      process.stdout.write('erased: only a keyed hash stays on the suppression list\n');
      return;
    }
    default:
      throw new UsageError(`unknown contacts command "${command ?? ''}"`);
  }
}

/** `npm run admin -- contacts …` and `subscribers …` */
export const commands: CommandGroup[] = [
  {
    name: 'contacts',
    usage: `  contacts show <email>
  contacts erase <email> --yes`,
    needs: 'database',
    run: (command, args, { database, config }) => contactsCommand(database, config.secrets, command, args),
  },
  {
    name: 'subscribers',
    usage: SUBSCRIBERS_USAGE,
    needs: 'database',
    run: (command, args, { database, config }) => subscribersCommand(database, config, command, args),
  },
];
