import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { dkimKey, dkimRecordValue, generateDkimKey } from '../../src/platform/mail/dkim.js';
import { startDnsStub, type DnsStub } from '../support/dnsStub.js';
import { freePort, runAdminCli, startServiceProcess } from '../support/processes.js';
import { consoleCookie, deleteRedisKeys, REDIS_URL, startTestService, TEST_SECRET } from '../support/service.js';
import { waitFor } from '../support/http.js';

/**
 * `dkim generate`, `sending check` and the console's "Sending setup" page. Live DNS is a stub
 * DNS server on 127.0.0.1 (DNS_SERVERS): nothing leaves the machine.
 */

const folder = mkdtempSync(path.join(tmpdir(), 'optin-sending-'));
const rsaPem = generateDkimKey('rsa');
const edPem = generateDkimKey('ed25519');
const otherRsaPem = generateDkimKey('rsa');
/** What the CLI needs besides the sender: `sending check` opens no database, but the configuration names one. */
const CLI_ENV = { DATABASE_PATH: path.join(folder, 'unused.db'), SECRET: TEST_SECRET };
const rsaRecord = dkimRecordValue(dkimKey('rsa1', rsaPem).privateKey);
const edRecord = dkimRecordValue(dkimKey('ed1', edPem).privateKey);

/** A sender whose DNS is complete, one with a wrong key and no DMARC, one with nothing at all. */
let dns: DnsStub;
beforeAll(async () => {
  dns = await startDnsStub({
    'example.com': ['v=spf1 include:_spf.mailer.example ~all', 'google-site-verification=abc'],
    'rsa1._domainkey.example.com': [rsaRecord],
    'ed1._domainkey.example.com': [edRecord],
    '_dmarc.example.com': ['v=DMARC1; p=none; rua=mailto:dmarc@example.com'],
    'half.example': ['v=spf1 +all'],
    'rsa1._domainkey.half.example': [dkimRecordValue(dkimKey('rsa1', otherRsaPem).privateKey)],
    'ed1._domainkey.half.example': [edRecord],
  });
});
afterAll(async () => {
  await dns?.close();
  rmSync(folder, { recursive: true, force: true });
});

function keyFiles(): string {
  const rsa = path.join(folder, `rsa-${randomUUID()}.pem`);
  const ed = path.join(folder, `ed-${randomUUID()}.pem`);
  writeFileSync(rsa, rsaPem);
  writeFileSync(ed, edPem);
  return `${rsa},${ed}`;
}

const senderEnv = (mailFrom: string, dkimDomain: string) => ({
  MAIL_FROM: mailFrom,
  DKIM_DOMAIN: dkimDomain,
  DKIM_SELECTOR: 'rsa1,ed1',
  DKIM_PRIVATE_KEY_FILE: keyFiles(),
});

describe('npm run admin -- dkim generate', () => {
  it('writes a new RSA key by default, prints the TXT record for it, and never overwrites a file', async () => {
    const out = path.join(folder, 's1.pem');
    const made = await runAdminCli(['dkim', 'generate', '--selector', 's1', '--domain', 'Example.com', '--out', out], {});
    expect(made.code).toBe(0);
    const pem = readFileSync(out, 'utf8');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const key = dkimKey('s1', pem);
    expect(key.type).toBe('rsa');
    expect(key.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(made.stdout).toContain('name:  s1._domainkey.example.com');
    expect(made.stdout).toContain(`value: ${dkimRecordValue(key.privateKey)}`);
    // Zone files take at most 255 characters per string: the RSA record is split.
    expect(made.stdout).toMatch(/s1\._domainkey\.example\.com\. IN TXT \( "v=DKIM1; k=rsa; p=[^"]{200,}" "[^"]+" \)/);
    expect(made.stdout).toContain(`DKIM_PRIVATE_KEY_FILE=${out}`);
    // What it prints is what the service takes.
    const config = loadConfig({
      DATABASE_PATH: path.join(folder, 'x.db'),
      MAIL_FROM: 'n <n@example.com>',
      DKIM_DOMAIN: 'example.com',
      DKIM_SELECTOR: 's1',
      DKIM_PRIVATE_KEY_FILE: out,
    });
    expect(config.dkim?.keys[0]?.type).toBe('rsa');

    const again = await runAdminCli(
      ['dkim', 'generate', '--selector', 's1', '--domain', 'example.com', '--out', out, '--type', 'ed25519'],
      {},
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists: it was not overwritten');
    expect(readFileSync(out, 'utf8')).toBe(pem);
  });

  it('makes Ed25519 keys, and refuses bad arguments as usage mistakes', async () => {
    const out = path.join(folder, 'e1.pem');
    const made = await runAdminCli(
      ['dkim', 'generate', '--selector', 'e1', '--domain', 'example.com', '--type', 'ed25519', '--out', out],
      {},
    );
    expect(made.code).toBe(0);
    expect(dkimKey('e1', readFileSync(out, 'utf8')).type).toBe('ed25519');
    expect(made.stdout).toMatch(/value: v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=/);
    expect(made.stdout).toContain('sign with an RSA key beside it');

    const mistakes = [
      ['--selector', 's1', '--domain', 'example.com', '--type', 'dsa'],
      ['--domain', 'example.com'],
      ['--selector', 's1', '--domain', 'localhost'],
    ];
    const refusals = await Promise.all(
      mistakes.map((args) => runAdminCli(['dkim', 'generate', ...args, '--out', path.join(folder, 'never.pem')], {})),
    );
    for (const [i, refused] of refusals.entries()) {
      expect(refused.code, mistakes[i]!.join(' ')).toBe(2);
      expect(refused.stderr).toContain('usage: npm run admin');
    }
    expect(() => statSync(path.join(folder, 'never.pem'))).toThrow();
  });
});

describe('npm run admin -- sending check', () => {
  it('says found for each record published as advised, and exits 0', async () => {
    const result = await runAdminCli(['sending', 'check'], {
      ...CLI_ENV,
      ...senderEnv('News <news@example.com>', 'example.com'),
      DNS_SERVERS: dns.server,
    });
    expect(result.stdout).toContain('SPF TXT example.com\n  publish: v=spf1 include:');
    expect(result.stdout).toContain('  live:    found: v=spf1 include:_spf.mailer.example ~all\n');
    expect(result.stdout).toContain(`DKIM TXT rsa1._domainkey.example.com\n  publish: ${rsaRecord}\n  live:    found`);
    expect(result.stdout).toContain(`DKIM TXT ed1._domainkey.example.com\n  publish: ${edRecord}\n  live:    found`);
    expect(result.stdout).toContain(
      'DMARC TXT _dmarc.example.com\n  publish: v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com\n  live:    found at _dmarc.example.com',
    );
    expect(result.stdout).toContain('Every record is published as advised.');
    expect(result.code).toBe(0);
  });

  it('says missing or different, record by record, warns about alignment, and exits 1', async () => {
    const result = await runAdminCli(['sending', 'check'], {
      ...CLI_ENV,
      ...senderEnv('News <news@half.example>', 'half.example'),
      DNS_SERVERS: dns.server,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/SPF TXT half\.example\n.*\n {2}live: {4}different: v=spf1 \+all \("\+all" lets anyone send/);
    expect(result.stdout).toMatch(
      /DKIM TXT rsa1\._domainkey\.half\.example\n.*\n {2}live: {4}different: v=DKIM1; k=rsa; p=\S+ \(The published key is not the configured one/,
    );
    expect(result.stdout).toMatch(/DKIM TXT ed1\._domainkey\.half\.example\n.*\n {2}live: {4}found/);
    expect(result.stdout).toMatch(/DMARC TXT _dmarc\.half\.example\n.*\n {2}live: {4}missing: nothing published/);
    expect(result.stdout).toContain('3 of 4 records are not published as advised.');

    // DKIM signs for example.org while mail comes from example.com: no alignment.
    const misaligned = await runAdminCli(['sending', 'check'], {
      ...CLI_ENV,
      ...senderEnv('News <news@example.com>', 'example.org'),
      DNS_SERVERS: dns.server,
    });
    expect(misaligned.stdout).toContain(
      'warning: DKIM_DOMAIN example.org is neither the MAIL_FROM domain (example.com) nor a parent of it',
    );
    expect(misaligned.stdout).toMatch(/DKIM TXT rsa1\._domainkey\.example\.org\n.*\n {2}live: {4}missing/);
    expect(misaligned.code).toBe(1);
  });

  it('says plainly when DNS cannot be reached, and still shows what to publish', async () => {
    const closedPort = await freePort();
    const {
      DKIM_DOMAIN: _d,
      DKIM_SELECTOR: _s,
      DKIM_PRIVATE_KEY_FILE: _k,
      ...noDkim
    } = senderEnv('News <news@example.com>', 'example.com');
    const result = await runAdminCli(['sending', 'check'], { ...CLI_ENV, ...noDkim, DNS_SERVERS: `127.0.0.1:${closedPort}` });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('warning: DKIM is not configured');
    expect(result.stdout).toContain(
      'DKIM TXT <selector>._domainkey.example.com\n  publish: (nothing yet)\n  live:    not checked: DKIM is not configured',
    );
    expect(result.stdout).toMatch(/SPF TXT example\.com\n.*\n {2}live: {4}not checked: DNS could not be reached \(E[A-Z]+\)/);
    expect(result.stdout).toMatch(/DNS could not be reached \(E[A-Z]+\): nothing was checked; the records above are what to publish\./);
  });
});

describe('the console page "Sending setup"', () => {
  it('shows each record to publish with its live state, behind the sign-in', async () => {
    const t = await startTestService({
      roles: ['api'],
      env: { ...senderEnv('News <news@half.example>', 'half.example'), DNS_SERVERS: dns.server },
    });
    try {
      expect(
        (await fetch(`${t.url}/admin/sending`, { headers: { accept: 'text/html' }, redirect: 'manual' })).headers.get('location'),
      ).toBe('/admin');
      const cookie = await consoleCookie(t.url);
      const res = await fetch(`${t.url}/admin/sending`, { headers: { cookie, accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      const html = await res.text();
      expect(html).toContain('<h1>Sending setup</h1>');
      expect(html).toContain('<a href="/admin/sending">Sending setup</a>');
      const row = (name: string) =>
        new RegExp(
          `<code>${name.replaceAll('.', '\\.')}</code></td>\\s*<td[^>]*>(.*?)</td>\\s*<td data-label="Live DNS" class="(\\w+)">(.*?)</td>`,
        )
          .exec(html)
          ?.slice(1);
      expect(row('half.example')).toEqual([
        '<code>v=spf1 include:&lt;your mail provider&#39;s SPF domain&gt; ~all</code>',
        'different',
        expect.stringContaining('+all'),
      ]);
      expect(row('rsa1._domainkey.half.example')).toEqual([
        `<code>${rsaRecord}</code>`,
        'different',
        expect.stringContaining('not the configured one'),
      ]);
      expect(row('ed1._domainkey.half.example')).toEqual([`<code>${edRecord}</code>`, 'found', expect.stringContaining('found')]);
      expect(row('_dmarc.half.example')).toEqual([
        '<code>v=DMARC1; p=none; rua=mailto:dmarc-reports@half.example</code>',
        'missing',
        'missing: nothing published',
      ]);
      expect(dns.queries).toContain('_dmarc.half.example');
    } finally {
      await t.stop();
    }
  });
});

describe('a production start', () => {
  it('warns clearly when DKIM is not configured', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'optin-prod-'));
    const prefix = `test-${randomUUID()}`;
    const service = await startServiceProcess({
      NODE_ENV: 'production',
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      DATABASE_PATH: path.join(dataDir, 'optin.db'),
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      MAIL_FROM: 'News <news@example.com>',
      SECRET: TEST_SECRET,
      LOG_LEVEL: 'warn',
    });
    try {
      const line = await waitFor(
        () =>
          service
            .output()
            .split('\n')
            .find((l) => l.includes('DKIM is not configured')),
        5000,
        'the DKIM warning',
      );
      expect(JSON.parse(line)).toMatchObject({ level: 40, msg: expect.stringContaining('mail goes out unsigned') });
    } finally {
      service.kill('SIGTERM');
      await service.exited;
      rmSync(dataDir, { recursive: true, force: true });
      await deleteRedisKeys(`${prefix}:*`);
    }
  });
});
