import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary } from '../support/canary.js';
import { postJson, waitFor } from '../support/http.js';
import { runAdminCli } from '../support/processes.js';
import { ADMIN_AUTH, startTestService, TEST_SECRET, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

/** The CLI as an operator runs it: a child process on the service's database. */
function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runAdminCli(args, { DATABASE_PATH: t.config.databasePath, SECRET: TEST_SECRET });
}

describe('npm run admin', () => {
  it('imports a CSV, and the imported addresses are never mailed', async () => {
    const file = path.join(t.config.dataDir, 'import.csv');
    // The same address and reason twice is one entry (another reason would be a fact of its own).
    writeFileSync(
      file,
      'email,reason\nCli.One@Example.com,complained\ncli.two@example.com,\nnot-an-address,\ncli.one@example.com,complained\n',
    );
    const result = await admin('suppressions', 'import', file);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ added: 2, alreadyPresent: 1, invalid: 1, problems: [{ row: 4 }] });
    expect(result.stderr).toContain('imported');

    const listed = await admin('suppressions', 'list', '--q', 'cli.one@example.com');
    expect(listed.stdout).toMatch(/\tcli\.one@example\.com\tcomplained\t\*\tcli\t/);

    expect((await postJson(`${t.url}/subscribe`, { email: 'CLI.ONE@example.com' })).status).toBe(202);
    await canary(t);
    expect(t.smtp.to('cli.one@example.com')).toEqual([]);

    const exported = await admin('suppressions', 'export');
    expect(exported.stdout.split('\r\n')[0]).toBe('email,reason,list,created_at,domain');
    expect(exported.stdout).toContain('cli.two@example.com,manual,,');
  });

  it('stops at a malformed line, naming it, with the rows before it imported; a stray quote is an invalid row', async () => {
    const dir = t.config.dataDir;
    const broken = path.join(dir, 'broken.csv');
    writeFileSync(broken, 'email\ncli.kept@malformed.example\n"cli.open@malformed.example\ncli.after@malformed.example\n');
    const failed = await admin('suppressions', 'import', broken);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/invalid_csv: .*\bline 3\b/);
    const kept = await admin('suppressions', 'list', '--q', 'cli.kept@malformed.example');
    expect(kept.stdout).toContain('cli.kept@malformed.example');

    const stray = path.join(dir, 'stray.csv');
    writeFileSync(stray, 'cli.a"b@stray.example\ncli.ok@stray.example\n');
    const result = await admin('suppressions', 'import', stray);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ added: 1, invalid: 1, problems: [{ row: 1 }] });
  });

  it('erases a contact only with --yes', async () => {
    expect((await postJson(`${t.url}/subscribe`, { email: 'cli.erase@example.com' })).status).toBe(202);
    await waitFor(() => t.smtp.to('cli.erase@example.com')[0], 5000, 'confirmation email');
    const shown = await admin('contacts', 'show', 'cli.erase@example.com');
    expect(JSON.parse(shown.stdout)).toMatchObject({ email: 'cli.erase@example.com', subscriptions: [{ status: 'pending' }] });

    const refused = await admin('contacts', 'erase', 'cli.erase@example.com');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    expect((await fetch(`${t.url}/admin/api/contacts/cli.erase%40example.com`, { headers: ADMIN_AUTH })).status).toBe(200);

    const erased = await admin('contacts', 'erase', 'CLI.Erase@example.com', '--yes');
    expect(erased.code).toBe(0);
    expect((await fetch(`${t.url}/admin/api/contacts/cli.erase%40example.com`, { headers: ADMIN_AUTH })).status).toBe(404);
    const found = (await (await fetch(`${t.url}/admin/api/suppressions?q=cli.erase%40example.com`, { headers: ADMIN_AUTH })).json()) as {
      items: unknown[];
    };
    expect(found.items).toEqual([expect.objectContaining({ email: null, reason: 'erased', source: 'cli' })]);

    const unknown = await admin('contacts', 'show', 'cli.erase@example.com');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown_contact');
  });
});
