import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson } from '../support/http.js';
import { runAdminCli } from '../support/processes.js';
import { ADMIN_AUTH, consoleCookie, startTestService, TEST_SECRET, type TestService } from '../support/service.js';

/*
 * `requireConsent` is a list setting like the others (issue 25, item 11): accepted by POST and
 * PATCH /admin/api/lists, by the CLI's `lists add|edit --require-consent`, and switched on the
 * list's consent page in the console. Until now it could only be set in the database.
 */

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ roles: ['api'] });
});
afterAll(async () => {
  await t?.stop();
});

const lists = (path = '') => `${t.url}/admin/api/lists${path}`;
const patch = (slug: string, body: unknown) =>
  fetch(lists(`/${slug}`), { method: 'PATCH', headers: { ...ADMIN_AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) });
const requireConsentOf = async (slug: string) =>
  ((await (await fetch(lists(`/${slug}`), { headers: ADMIN_AUTH })).json()) as { requireConsent: boolean }).requireConsent;

async function putConsent(slug: string, text: string): Promise<string> {
  const res = await fetch(lists(`/${slug}/consent`), {
    method: 'PUT',
    headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { version: string }).version;
}

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe('requireConsent', () => {
  it('is accepted by POST and PATCH /admin/api/lists, and the signup follows it', async () => {
    const created = await postJson(lists(), { slug: 'strict-api', name: 'Strict API', requireConsent: true }, ADMIN_AUTH);
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ slug: 'strict-api', requireConsent: true });
    const version = await putConsent('strict-api', 'I agree to Strict API.');
    const refused = await postJson(`${t.url}/subscribe`, { email: 'no.box@example.com', list: 'strict-api' });
    expect(refused.status).toBe(400);
    expect(await errorCode(refused)).toBe('consent_required');
    expect((await postJson(`${t.url}/subscribe`, { email: 'box@example.com', list: 'strict-api', consent: version })).status).toBe(202);

    const off = await patch('strict-api', { requireConsent: false });
    expect(off.status).toBe(200);
    expect(await off.json()).toMatchObject({ requireConsent: false });
    expect((await postJson(`${t.url}/subscribe`, { email: 'no.box@example.com', list: 'strict-api' })).status).toBe(202);
    expect(await requireConsentOf('strict-api')).toBe(false);

    for (const wrong of ['yes', 1, null]) {
      const res = await patch('strict-api', { requireConsent: wrong });
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_list');
    }
    expect(await requireConsentOf('strict-api')).toBe(false);
  });

  it('is set by the CLI: lists add|edit --require-consent true|false', async () => {
    const env = { DATABASE_PATH: t.config.databasePath, SECRET: TEST_SECRET, MAIL_FROM: 'news@example.org' };
    const added = await runAdminCli(['lists', 'add', 'strict-cli', '--name', 'Strict CLI', '--require-consent', 'true'], env);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ slug: 'strict-cli', requireConsent: true });
    const edited = await runAdminCli(['lists', 'edit', 'strict-cli', '--require-consent', 'false'], env);
    expect(edited.code).toBe(0);
    expect(JSON.parse(edited.stdout)).toMatchObject({ requireConsent: false });
    expect(await requireConsentOf('strict-cli')).toBe(false);
    const wrong = await runAdminCli(['lists', 'edit', 'strict-cli', '--require-consent', 'maybe'], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--require-consent is true or false');
  });

  it('is switched on the list’s consent page in the console', async () => {
    expect((await postJson(lists(), { slug: 'strict-console', name: 'Strict console' }, ADMIN_AUTH)).status).toBe(201);
    const cookie = await consoleCookie(t.url);
    const page = async () => (await fetch(`${t.url}/admin/lists/strict-console/consent`, { headers: { cookie } })).text();
    const before = await page();
    expect(before).toContain('This list accepts signups without it.');
    const form = /<form method="post" action="\/admin\/lists\/strict-console\/consent\/require">[\s\S]*?<\/form>/.exec(before)?.[0];
    expect(form).toContain('name="requireConsent" value="true"');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(before)![1]!;
    const turn = (value: string, token = csrf) =>
      fetch(`${t.url}/admin/lists/strict-console/consent/require`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: token, requireConsent: value }).toString(),
        redirect: 'manual',
      });
    const on = await turn('true');
    expect(on.status).toBe(303);
    expect(on.headers.get('location')).toBe('/admin/lists/strict-console/consent?notice=required');
    expect(await requireConsentOf('strict-console')).toBe(true);
    const after = await page();
    expect(after).toContain('This list refuses a signup without it.');
    // No statement yet: the page says that the list takes no signups until one is written.
    expect(after).toContain('takes no signups until a statement is written');
    expect(after).toContain('name="requireConsent" value="false"');

    expect((await turn('false', 'not-the-token')).status).toBe(403);
    expect(await requireConsentOf('strict-console')).toBe(true);
    expect((await turn('sometimes')).status).toBe(400);
    expect((await turn('false')).status).toBe(303);
    expect(await requireConsentOf('strict-console')).toBe(false);
  });
});
