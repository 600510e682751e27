import { Resolver } from 'node:dns/promises';
import type { Config } from '../../config.js';
import { dkimRecordName, dkimRecordValue, dkimWarnings } from '../../platform/mail/dkim.js';
import { isSameOrParentDomain, senderDomain } from '../../platform/mail/sender.js';

/** Looks up the TXT records of a name, as node:dns answers: one array of strings per record. */
export type TxtResolver = (name: string) => Promise<string[][]>;

export type LiveRecord =
  { status: 'found' | 'missing' | 'different'; published: string[]; detail?: string } | { status: 'unchecked'; reason: string };

export interface SetupRecord {
  kind: 'SPF' | 'DKIM' | 'DMARC';
  /** The DNS name of the TXT record. */
  name: string;
  /** What to publish; undefined when the configuration cannot say yet (DKIM not configured). */
  value: string | undefined;
  /** What the record does, in a sentence. */
  purpose: string;
  live: LiveRecord;
}

export interface SendingSetup {
  fromDomain: string;
  /** Configuration problems (alignment, missing DKIM), as a production start warns about them. */
  warnings: string[];
  records: SetupRecord[];
  /** Set when DNS could not be asked: the records are advice only. */
  dnsUnreachable: string | undefined;
}

/** DNS answers that mean "nothing published here", as opposed to "could not ask". */
const NO_RECORD_CODES = new Set(['ENOTFOUND', 'ENODATA']);

class DnsUnreachable extends Error {}

/** The system's resolver, or the DNS_SERVERS ones; short timeouts so a page does not hang. */
export function dnsTxtResolver(servers: readonly string[]): TxtResolver {
  const resolver = new Resolver({ timeout: 2500, tries: 2 });
  if (servers.length > 0) resolver.setServers([...servers]);
  return (name) => resolver.resolveTxt(name);
}

async function txtRecords(resolve: TxtResolver, name: string): Promise<string[]> {
  try {
    // A long record comes as several strings; receivers read them joined.
    return (await resolve(name)).map((chunks) => chunks.join(''));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    if (NO_RECORD_CODES.has(code)) return [];
    throw new DnsUnreachable(code);
  }
}

/** The tags of a DKIM record (v=DKIM1; k=rsa; p=…), names lower-cased, values without spaces. */
function tags(record: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) map.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return map;
}

function spfLive(published: string[]): LiveRecord {
  const spf = published.filter((r) => /^v=spf1(\s|$)/i.test(r.trim()));
  if (spf.length === 0) return { status: 'missing', published: [] };
  if (spf.length > 1)
    return {
      status: 'different',
      published: spf,
      detail: `${spf.length} SPF records: receivers treat that as an error. Merge them into one.`,
    };
  if (/\+all\b/i.test(spf[0]!))
    return { status: 'different', published: spf, detail: '"+all" lets anyone send as this domain: end with "~all" or "-all".' };
  return { status: 'found', published: spf };
}

function dkimLive(published: string[], expected: string): LiveRecord {
  const keys = published.filter((r) => tags(r).has('p'));
  if (keys.length === 0) return { status: 'missing', published };
  const want = tags(expected);
  const same = keys.some((r) => {
    const t = tags(r);
    return t.get('p') === want.get('p') && (t.get('k') ?? 'rsa').toLowerCase() === want.get('k');
  });
  return same
    ? { status: 'found', published: keys }
    : { status: 'different', published: keys, detail: 'The published key is not the configured one: signatures will fail.' };
}

function dmarcLive(published: string[], name: string): LiveRecord {
  const dmarc = published.filter((r) => /^v=DMARC1\s*(;|$)/i.test(r.trim()));
  if (dmarc.length === 1 && published.length === 1) return { status: 'found', published: dmarc, detail: `at ${name}` };
  return {
    status: 'different',
    published,
    detail: `at ${name}: ${dmarc.length === 0 ? 'not a DMARC record (it must start with "v=DMARC1")' : 'more than one record; receivers ignore them all'}`,
  };
}

/** _dmarc at the From domain, else at each parent: where receivers look (the organisational domain is among them). */
async function findDmarc(resolve: TxtResolver, fromDomain: string): Promise<LiveRecord> {
  const labels = fromDomain.split('.');
  for (let i = 0; i <= labels.length - 2; i++) {
    const name = `_dmarc.${labels.slice(i).join('.')}`;
    const published = await txtRecords(resolve, name);
    if (published.length > 0) return dmarcLive(published, name);
  }
  return { status: 'missing', published: [] };
}

/**
 * The records an operator must publish for this configuration (SPF, one DKIM record per key,
 * DMARC), each checked against live DNS where DNS can be asked.
 */
export async function checkSendingSetup(config: Pick<Config, 'mailFrom' | 'dkim'>, resolve: TxtResolver): Promise<SendingSetup> {
  // loadConfig refuses a MAIL_FROM without a domain.
  const fromDomain = senderDomain(config.mailFrom)!;
  const dkim = config.dkim;
  const dmarcDomain = dkim && isSameOrParentDomain(fromDomain, dkim.domain) ? dkim.domain : fromDomain;
  let dnsUnreachable: string | undefined;
  const live = async (check: () => Promise<LiveRecord>): Promise<LiveRecord> => {
    try {
      return await check();
    } catch (error) {
      if (!(error instanceof DnsUnreachable)) throw error;
      dnsUnreachable ??= error.message;
      return { status: 'unchecked', reason: `DNS could not be reached (${error.message})` };
    }
  };

  const spf: Promise<SetupRecord> = live(async () => spfLive(await txtRecords(resolve, fromDomain))).then((result) => ({
    kind: 'SPF',
    name: fromDomain,
    value: "v=spf1 include:<your mail provider's SPF domain> ~all",
    purpose: `Names the servers allowed to send mail for ${fromDomain} (the envelope sender). Your SMTP provider documents its include; your own server goes in as ip4:/ip6:.`,
    live: result,
  }));
  const dkimRecords: Promise<SetupRecord>[] = dkim
    ? dkim.keys.map((key) => {
        const name = dkimRecordName(key.selector, dkim.domain);
        const value = dkimRecordValue(key.privateKey);
        return live(async () => dkimLive(await txtRecords(resolve, name), value)).then((result) => ({
          kind: 'DKIM' as const,
          name,
          value,
          purpose: `The public half of the ${key.type === 'rsa' ? 'RSA' : 'Ed25519'} key that signs every message (selector ${key.selector}).`,
          live: result,
        }));
      })
    : [
        Promise.resolve({
          kind: 'DKIM' as const,
          name: dkimRecordName('<selector>', fromDomain),
          value: undefined,
          purpose: `Not configured: create a key with "npm run admin -- dkim generate --selector s1 --domain ${fromDomain}", then set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE.`,
          live: { status: 'unchecked' as const, reason: 'DKIM is not configured' },
        }),
      ];
  const dmarc: Promise<SetupRecord> = live(() => findDmarc(resolve, fromDomain)).then((result) => ({
    kind: 'DMARC',
    name: `_dmarc.${dmarcDomain}`,
    value: `v=DMARC1; p=none; rua=mailto:dmarc-reports@${dmarcDomain}`,
    purpose:
      'Tells receivers to check that SPF or DKIM align with the From domain, and where to send daily reports. Start with p=none, read the reports, then move to quarantine or reject.',
    live: result,
  }));

  const records = await Promise.all([spf, ...dkimRecords, dmarc]);
  return { fromDomain, warnings: dkimWarnings(dkim, config.mailFrom), records, dnsUnreachable };
}

/** True when every record is published as advised. */
export const sendingSetupComplete = (setup: SendingSetup) => setup.records.every((r) => r.live.status === 'found');

/** One line on a record's live state, for the CLI and the console page alike. */
export function liveSummary(live: LiveRecord): string {
  switch (live.status) {
    case 'found':
      return `found${live.detail ? ` ${live.detail}` : ''}: ${live.published.join(' | ')}`;
    case 'missing':
      return 'missing: nothing published';
    case 'different':
      return `different: ${live.published.join(' | ') || '(empty)'}${live.detail ? ` (${live.detail})` : ''}`;
    case 'unchecked':
      return `not checked: ${live.reason}`;
  }
}
