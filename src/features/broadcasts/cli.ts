import { UsageError, type CommandGroup } from '../../platform/cli/command.js';
import { parseArgs } from 'node:util';
import {
  broadcastIdOf,
  broadcastProgress,
  cancelBroadcast,
  listBroadcasts,
  pauseBroadcast,
  queueRecipients,
  resumeBroadcast,
  startBroadcast,
  type BroadcastProgress,
} from './service.js';
import type { Database } from '../../platform/db/database.js';
import { progressBar } from '../../platform/cli/progress.js';

/** The lines `npm run admin -- help` shows for broadcasts. */
const BROADCASTS_USAGE = `  broadcasts list
  broadcasts show <id>
  broadcasts send <id> [--follow]                  (--follow: a progress bar until it ends)
  broadcasts pause|resume|cancel <id>`;

const FOLLOW_POLL_MS = 1000;
const handled = (p: BroadcastProgress) => p.sent + p.failed + p.dropped + p.cancelled;

/** Polls the counts until the broadcast is sent or cancelled, drawing a progress bar on stderr. */
async function follow(database: Database, id: number, out: NodeJS.WritableStream): Promise<BroadcastProgress> {
  let progress = await broadcastProgress(database, id);
  const bar = progressBar(`broadcast ${id}`, progress.total || undefined);
  while (progress.status !== 'sent' && progress.status !== 'cancelled') {
    bar.update(handled(progress));
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
    progress = await broadcastProgress(database, id);
  }
  bar.finish(handled(progress), ` ${progress.status}`);
  out.write(`${JSON.stringify(progress)}\n`);
  return progress;
}

/**
 * `npm run admin -- broadcasts …`, on the database directly: `send` starts the broadcast and
 * writes its recipients (the running workers send them, at BROADCAST_RATE_PER_MINUTE).
 * `usage` builds the error shown with the usage text for a wrong command line.
 */
async function broadcastsCommand(
  database: Database,
  command: string | undefined,
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { follow: { type: 'boolean' } } });
  if (command === 'list') {
    for (const b of await listBroadcasts(database))
      out.write(`${b.id}\t${b.status}\t${b.list}\t${b.total}\t${b.createdAt}\t${b.subject}\n`);
    return;
  }
  if (positionals.length !== 1) throw new UsageError('expected one broadcast id');
  const id = broadcastIdOf(positionals[0]);
  switch (command) {
    case 'show':
      out.write(`${JSON.stringify(await broadcastProgress(database, id), null, 2)}\n`);
      return;
    case 'send': {
      const status = await startBroadcast(database, id);
      if (status === 'sending') await queueRecipients(database, id);
      if (values.follow) await follow(database, id, out);
      else out.write(`${JSON.stringify(await broadcastProgress(database, id))}\n`);
      return;
    }
    case 'pause':
      await pauseBroadcast(database, id);
      break;
    case 'resume':
      await resumeBroadcast(database, id);
      if (values.follow) {
        await follow(database, id, out);
        return;
      }
      break;
    case 'cancel':
      await cancelBroadcast(database, id);
      break;
    default:
      throw new UsageError(`unknown broadcasts command "${command ?? ''}"`);
  }
  out.write(`${JSON.stringify(await broadcastProgress(database, id))}\n`);
}

/** `npm run admin -- broadcasts …` */
export const commands: CommandGroup[] = [
  {
    name: 'broadcasts',
    usage: BROADCASTS_USAGE,
    needs: 'database',
    run: (command, args, { database }) => broadcastsCommand(database, command, args),
  },
];
