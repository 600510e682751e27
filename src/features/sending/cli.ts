import { UsageError, type CommandGroup } from '../../platform/cli/command.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Config } from '../../config.js';
import {
  DKIM_KEY_TYPES,
  dkimKey,
  dkimRecordName,
  dkimRecordValue,
  generateDkimKey,
  isDkimDomain,
  isDkimSelector,
  type DkimKeyType,
} from '../../platform/mail/dkim.js';
import { checkSendingSetup, dnsTxtResolver, liveSummary, sendingSetupComplete } from './service.js';

/** A DNS TXT value as zone files want it: quoted strings of at most 255 characters. */
function zoneFileStrings(value: string): string {
  return (value.match(/.{1,255}/g) ?? []).map((part) => `"${part}"`).join(' ');
}

function dkimCommand(command: string | undefined, args: string[]): void {
  if (command !== 'generate') throw new UsageError(`unknown dkim command "${command ?? ''}"`);
  const { values } = parseArgs({
    args,
    options: {
      selector: { type: 'string' },
      domain: { type: 'string' },
      type: { type: 'string', default: 'rsa' },
      out: { type: 'string' },
    },
  });
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
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new Error(`${file} already exists: it was not overwritten (choose another --out)`);
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
  if (setup.dnsUnreachable)
    out.push(`DNS could not be reached (${setup.dnsUnreachable}): nothing was checked; the records above are what to publish.`);
  else if (complete) out.push('Every record is published as advised.');
  else
    out.push(
      `${setup.records.filter((r) => r.live.status !== 'found').length} of ${setup.records.length} records are not published as advised.`,
    );
  process.stdout.write(`${out.join('\n')}\n`);
  return complete ? 0 : 1;
}

/** `npm run admin -- dkim generate …` (needs no configuration) and `sending check` (needs no database). */
export const commands: CommandGroup[] = [
  {
    name: 'dkim',
    usage: '  dkim generate --selector s1 --domain example.com [--type rsa|ed25519] [--out file.pem]',
    needs: 'nothing',
    run: (command, args) => dkimCommand(command, args),
  },
  {
    name: 'sending',
    usage: '  sending check                                    (exit 1 unless every record is found)',
    needs: 'config',
    run: (command, args, { config }) => sendingCommand(config, command, args),
  },
];
