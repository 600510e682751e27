import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson } from '../support/http.js';
import { runAdminCli } from '../support/processes.js';
import { startTestService, TEST_SECRET, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'] });
});
afterAll(async () => {
  await t?.stop();
});

/** The CLI as an operator runs it: a child process on the service's database, with the service's sender. */
function admin(...args: string[]) {
  return runAdminCli(['lists', ...args], { DATABASE_PATH: t.config.databasePath, SECRET: TEST_SECRET, MAIL_FROM: 'news@example.org' });
}

describe('npm run admin -- lists', () => {
  it('adds, edits, shows and archives a list', async () => {
    const welcome = path.join(t.config.dataDir, 'welcome.md');
    writeFileSync(welcome, '# Hello\n\nYour guide: https://example.org/guide.pdf\n');
    const added = await admin(
      'add',
      'guides',
      '--name',
      '{"en":"Guides","fr":"Les guides"}',
      '--welcome-file',
      welcome,
      '--from-email',
      'guides@example.org',
      '--goodbye-email',
      'true',
    );
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({
      slug: 'guides',
      name: { en: 'Guides', fr: 'Les guides' },
      welcomeMessage: '# Hello\n\nYour guide: https://example.org/guide.pdf',
      fromEmail: 'guides@example.org',
      goodbyeEmail: true,
      public: false,
    });

    const edited = await admin('edit', 'guides', '--public', 'true', '--from-email', '', '--description', 'Practical guides.');
    expect(edited.code).toBe(0);
    expect(JSON.parse(edited.stdout)).toMatchObject({
      public: true,
      fromEmail: null,
      description: 'Practical guides.',
      goodbyeEmail: true,
    });

    const table = await admin('show');
    expect(table.stdout).toContain('slug\tname\tpending\tconfirmed\tunsubscribed\tarchived\n');
    expect(table.stdout).toContain('guides\tGuides\t0\t0\t0\tfalse\n');
    expect(JSON.parse((await admin('show', 'guides')).stdout)).toMatchObject({ slug: 'guides', public: true });

    const archived = await admin('archive', 'guides');
    expect(JSON.parse(archived.stdout)).toMatchObject({ archived: true });
    expect((await postJson(`${t.url}/subscribe`, { email: 'cli-reader@example.com', list: 'guides' })).status).toBe(404);
    expect(JSON.parse((await admin('archive', 'guides', '--undo')).stdout)).toMatchObject({ archived: false });
    expect((await postJson(`${t.url}/subscribe`, { email: 'cli-reader@example.com', list: 'guides' })).status).toBe(202);
  });

  it('says what is wrong: a bad field (exit 1, naming it), an unknown list, a usage mistake (exit 2)', async () => {
    const bad = await admin('add', 'Bad Slug', '--name', 'x');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid_list');
    expect(bad.stderr).toContain('"slug"');
    const sender = await admin('add', 'elsewhere', '--name', 'x', '--from-email', 'news@elsewhere.example');
    expect(sender.code).toBe(1);
    expect(sender.stderr).toContain('"fromEmail"');
    const unknown = await admin('edit', 'nope', '--name', 'x');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown_list');
    const usage = await admin('add', 'x', '--public', 'maybe');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--public is true or false');
    expect((await admin('frobnicate')).code).toBe(2);
  });
});
