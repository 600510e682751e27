import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, settle, waitFor } from './support/http.js';
import { ADMIN_AUTH, startTestService, TEST_ADMIN_TOKEN, TEST_SECRET, type TestService } from './support/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

/** The CLI as an operator runs it: a child process on the service's database. */
async function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', DATABASE_PATH: t.config.databasePath, SECRET: TEST_SECRET, LOG_LEVEL: 'silent' },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}


describe('npm run admin', () => {
  it('imports a CSV, and the imported addresses are never mailed', async () => {
    const file = path.join(path.dirname(t.config.databasePath), 'import.csv');
    writeFileSync(file, 'email,reason\nCli.One@Example.com,complained\ncli.two@example.com,\nnot-an-address,\ncli.one@example.com,\n');
    const result = await admin('suppressions', 'import', file);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ added: 2, alreadyPresent: 1, invalid: 1, problems: [{ row: 4 }] });
    expect(result.stderr).toContain('imported');

    const listed = await admin('suppressions', 'list', '--q', 'cli.one@example.com');
    expect(listed.stdout).toMatch(/\tcli\.one@example\.com\tcomplained\t\*\tcli\t/);

    expect((await postJson(`${t.url}/subscribe`, { email: 'CLI.ONE@example.com' })).status).toBe(202);
    await settle();
    expect(t.smtp.to('cli.one@example.com')).toEqual([]);

    const exported = await admin('suppressions', 'export');
    expect(exported.stdout.split('\r\n')[0]).toBe('email,reason,list,created_at');
    expect(exported.stdout).toContain('cli.two@example.com,manual,,');
  });

  it('stops at a malformed line, naming it, with the rows before it imported; a stray quote is an invalid row', async () => {
    const dir = path.dirname(t.config.databasePath);
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
    const found = (await (await fetch(`${t.url}/admin/api/suppressions?q=cli.erase%40example.com`, { headers: ADMIN_AUTH })).json()) as { items: unknown[] };
    expect(found.items).toEqual([expect.objectContaining({ email: null, reason: 'erased', source: 'cli' })]);

    const unknown = await admin('contacts', 'show', 'cli.erase@example.com');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown_contact');
  });
});
