import { CLI_SOURCE, one, UsageError, type CommandGroup } from '../../platform/cli/command.js';
import { createReadStream, createWriteStream, statSync, type ReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { count } from 'drizzle-orm';
import { type Database } from '../../platform/db/database.js';
import { SUPPRESSION_REASONS, type SuppressionReason } from '../../platform/db/schema.js';
import { csvRecords, importSuppressions, suppressionCsvChunks } from './csv.js';
import { addSuppression, liftSuppression, listSuppressions } from './service.js';
import { progressBar } from '../../platform/cli/progress.js';

function reasonOf(value: string | undefined): SuppressionReason | undefined {
  if (value === undefined) return undefined;
  if ((SUPPRESSION_REASONS as readonly string[]).includes(value)) return value as SuppressionReason;
  throw new UsageError(`unknown reason "${value}"`);
}

async function suppressionsCommand(
  database: Database,
  secrets: readonly string[],
  command: string | undefined,
  args: string[],
): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      q: { type: 'string' },
      reason: { type: 'string' },
      list: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      output: { type: 'string' },
    },
  });
  switch (command) {
    case 'list': {
      const limit = Number(values.limit ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000');
      const page = await listSuppressions(database, secrets, {
        q: values.q,
        reason: reasonOf(values.reason),
        list: values.list,
        limit,
        cursor: values.cursor,
      });
      process.stdout.write('id\temail\treason\tlist\tsource\tcreated_at\n');
      for (const item of page.items)
        process.stdout.write(
          `${item.id}\t${item.email ?? '(erased)'}\t${item.reason}\t${item.list ?? '*'}\t${item.source}\t${item.createdAt}\n`,
        );
      if (page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
      return;
    }
    case 'add': {
      const { item, created } = await addSuppression(database, secrets, {
        email: one(positionals, 'address'),
        reason: reasonOf(values.reason) ?? 'manual',
        list: values.list,
        source: CLI_SOURCE,
      });
      process.stdout.write(`${created ? 'added' : 'already present'}: ${JSON.stringify(item)}\n`);
      return;
    }
    case 'lift': {
      const id = Number(one(positionals, 'entry id'));
      if (!Number.isInteger(id) || id < 1) throw new UsageError('the entry id is a whole number');
      if (!values.reason?.trim()) throw new UsageError('say why with --reason "…"');
      await liftSuppression(database, { id, reason: values.reason, by: CLI_SOURCE });
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
      const counts = await importSuppressions(database, secrets, csvRecords(input), {
        source: CLI_SOURCE,
        onProgress: (_c, rows) => bar.update(size ? bytesRead() : rows),
      });
      bar.finish(size ?? counts.added + counts.alreadyPresent + counts.invalid, size ? ' bytes' : ' rows');
      process.stdout.write(`${JSON.stringify(counts, null, 2)}\n`);
      return;
    }
    default:
      throw new UsageError(`unknown suppressions command "${command ?? ''}"`);
  }
}

/** `npm run admin -- suppressions …` */
export const commands: CommandGroup[] = [
  {
    name: 'suppressions',
    usage: `  suppressions list [--q text] [--reason r] [--list slug|*] [--limit n] [--cursor c]
  suppressions add <email> [--reason r] [--list slug]
  suppressions lift <id> --reason "why"
  suppressions export [--output file.csv]          (stdout by default)
  suppressions import <file.csv|->                 (- reads stdin)`,
    needs: 'database',
    run: (command, args, { database, config }) => suppressionsCommand(database, config.secrets, command, args),
  },
];
