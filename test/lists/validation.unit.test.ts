import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { openSqliteDatabase, type Database } from '../../src/platform/db/database.js';
import { checkListInput, createList, getList, listRules, updateList, type ListRules } from '../../src/features/lists/service.js';

/*
 * What a list may be: the checks of createList and updateList (checkListInput, with the sender
 * rules listRules derives from MAIL_FROM and DKIM_DOMAIN). Every problem is `400 invalid_list`
 * with a message naming the field; nothing is written when any field is wrong.
 */

const NOW = Date.UTC(2030, 0, 15, 12);
const RULES: ListRules = listRules({ mailFrom: 'News <news@example.com>', dkim: { domain: 'mail.example.org', keys: [] } });

/** The error checkListInput throws for this input, which must be `400 invalid_list`; returns its message. */
function problemOf(input: unknown, creating = true, rules: ListRules = RULES): string {
  let thrown: unknown;
  try {
    checkListInput(input, rules, creating);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(AppError);
  expect(thrown).toMatchObject({ status: 400, code: 'invalid_list' });
  return (thrown as AppError).message;
}

const valid = (fields: Record<string, unknown> = {}) => ({ slug: 'news', name: 'News', ...fields });

describe('listRules', () => {
  it('allows MAIL_FROM’s domain and DKIM_DOMAIN, lower-cased, in ASCII, once each', () => {
    expect(listRules({ mailFrom: 'News <News@Example.COM>', dkim: { domain: 'mail.example.org', keys: [] } }).senderDomains).toEqual([
      'example.com',
      'mail.example.org',
    ]);
    expect(listRules({ mailFrom: 'news@example.com', dkim: { domain: 'example.com', keys: [] } }).senderDomains).toEqual(['example.com']);
    expect(listRules({ mailFrom: 'news@bücher.de', dkim: undefined }).senderDomains).toEqual(['xn--bcher-kva.de']);
  });

  it('has no sender domain when MAIL_FROM holds no address and DKIM is off', () => {
    expect(listRules({ mailFrom: 'not an address', dkim: undefined }).senderDomains).toEqual([]);
  });
});

describe('checkListInput', () => {
  it('accepts a full, valid list and gives back its fields as they will be stored', () => {
    expect(
      checkListInput(
        {
          slug: 'weekly-news-2',
          name: { en: ' Weekly news ', fr: 'La lettre' },
          description: 'What we did',
          thankYouUrl: 'https://Example.com/thanks',
          confirmedUrl: 'http://example.com/ok?x=1',
          fromName: '  The Team ',
          fromEmail: 'Team@News.Example.com',
          public: true,
          archived: false,
          welcomeMessage: { fr: 'Bienvenue' },
          goodbyeEmail: true,
        },
        RULES,
        true,
      ),
    ).toEqual({
      slug: 'weekly-news-2',
      name: { en: 'Weekly news', fr: 'La lettre' },
      description: 'What we did',
      thankYouUrl: 'https://example.com/thanks',
      confirmedUrl: 'http://example.com/ok?x=1',
      fromName: 'The Team',
      fromEmail: 'Team@news.example.com',
      public: true,
      archived: false,
      welcomeMessage: { fr: 'Bienvenue' },
      goodbyeEmail: true,
    });
  });

  it.each([null, 'news', 42, ['news'], undefined])('refuses %j as a list: it must be a JSON object', (input) => {
    expect(problemOf(input)).toBe('Send the list as a JSON object.');
  });

  it('names a field a list does not have', () => {
    expect(problemOf(valid({ colour: 'red' }))).toMatch(/^The field "colour" is not a field of a list/);
    expect(problemOf({ owner: 'x' }, false)).toMatch(/^The field "owner" is not a field of a list/);
  });

  describe('slug', () => {
    it.each(['a', '0', 'weekly-news', '-', 'x'.repeat(64)])('accepts %j', (slug) => {
      expect(checkListInput(valid({ slug }), RULES, true).slug).toBe(slug);
    });

    it.each(['', 'Weekly', 'weekly news', 'weekly_news', 'weekly.news', 'café', 'x'.repeat(65), 'news\n', 42, null, undefined])(
      'refuses %j on create',
      (slug) => {
        expect(problemOf(valid({ slug }))).toBe('The field "slug" must be 1 to 64 lower-case letters, digits or hyphens.');
      },
    );

    it('cannot be changed by an edit', () => {
      expect(problemOf({ slug: 'news' }, false)).toMatch(/^The field "slug" cannot be changed/);
    });
  });

  describe('name', () => {
    it('is required on create, and cannot be cleared by an edit', () => {
      expect(problemOf({ slug: 'news' })).toBe('The field "name" is required.');
      expect(problemOf(valid({ name: null }))).toBe('The field "name" is required.');
      expect(problemOf({ name: '' }, false)).toBe('The field "name" is required.');
      expect(checkListInput({}, RULES, false).name).toBeUndefined();
    });

    it('is one string for every locale or one per known locale, each non-empty, trimmed', () => {
      expect(checkListInput(valid({ name: '  News  ' }), RULES, true).name).toBe('News');
      expect(checkListInput(valid({ name: { fr: 'Nouvelles' } }), RULES, true).name).toEqual({ fr: 'Nouvelles' });
      expect(problemOf(valid({ name: '   ' }))).toBe('The field "name" must be a non-empty string.');
      expect(problemOf(valid({ name: {} }))).toMatch(/^The field "name" must name at least one locale/);
      expect(problemOf(valid({ name: { de: 'Neuigkeiten' } }))).toMatch(/^The field "name" has an unknown locale "de"/);
      expect(problemOf(valid({ name: { en: 'News', fr: '' } }))).toBe('The field "name" "fr" must be a non-empty string.');
      expect(problemOf(valid({ name: ['News'] }))).toMatch(/^The field "name" must be a string or an object per locale/);
      expect(problemOf(valid({ name: 7 }))).toMatch(/^The field "name" must be a string or an object per locale/);
    });

    it('is at most 200 characters in each locale', () => {
      expect(checkListInput(valid({ name: 'n'.repeat(200) }), RULES, true).name).toHaveLength(200);
      expect(problemOf(valid({ name: 'n'.repeat(201) }))).toBe('The field "name" must be at most 200 characters.');
      expect(problemOf(valid({ name: { en: 'ok', fr: 'n'.repeat(201) } }))).toBe('The field "name" "fr" must be at most 200 characters.');
    });

    it.each(['Weekly\nBcc: x@example.com', 'Weekly\rnews', 'tab\there', 'nul\u0000', 'del\u007f', 'line\u2028sep', 'c1\u0085'])(
      'refuses control characters and line breaks (it reaches headers): %j',
      (name) => {
        expect(problemOf(valid({ name }))).toBe('The field "name" must be on one line, without control characters.');
        expect(problemOf(valid({ name: { en: 'fine', fr: name } }))).toBe(
          'The field "name" must be on one line, without control characters.',
        );
      },
    );
  });

  describe('description and welcome message', () => {
    it('may be cleared with null or "", and are checked like the name otherwise (2000 and 20000 characters)', () => {
      expect(checkListInput({ description: null, welcomeMessage: '' }, RULES, false)).toMatchObject({
        description: null,
        welcomeMessage: null,
      });
      expect(checkListInput({ description: 'd'.repeat(2000) }, RULES, false).description).toHaveLength(2000);
      expect(problemOf({ description: 'd'.repeat(2001) }, false)).toBe('The field "description" must be at most 2000 characters.');
      expect(checkListInput({ welcomeMessage: 'w'.repeat(20_000) }, RULES, false).welcomeMessage).toHaveLength(20_000);
      expect(problemOf({ welcomeMessage: 'w'.repeat(20_001) }, false)).toBe('The field "welcomeMessage" must be at most 20000 characters.');
      expect(problemOf({ welcomeMessage: { xx: 'hi' } }, false)).toMatch(/^The field "welcomeMessage" has an unknown locale "xx"/);
      // Unlike the name, they may span lines.
      expect(checkListInput({ description: 'two\nlines' }, RULES, false).description).toBe('two\nlines');
    });
  });

  describe('thankYouUrl and confirmedUrl', () => {
    it.each(['thankYouUrl', 'confirmedUrl'])('%s takes an absolute http(s) URL, normalised, or null/"" to clear it', (field) => {
      expect(checkListInput({ [field]: 'https://Example.COM/thanks?a=1#top' }, RULES, false)[field as 'thankYouUrl']).toBe(
        'https://example.com/thanks?a=1#top',
      );
      expect(checkListInput({ [field]: 'http://example.com' }, RULES, false)[field as 'thankYouUrl']).toBe('http://example.com/');
      expect(checkListInput({ [field]: null }, RULES, false)[field as 'thankYouUrl']).toBeNull();
      expect(checkListInput({ [field]: '' }, RULES, false)[field as 'thankYouUrl']).toBeNull();
    });

    it.each([
      ['javascript:alert(1)', 'must be an http(s) URL'],
      ['ftp://example.com/x', 'must be an http(s) URL'],
      ['data:text/html,hi', 'must be an http(s) URL'],
      ['/thanks', 'must be an absolute http(s) URL'],
      ['example.com/thanks', 'must be an absolute http(s) URL'],
      ['https://example.com/a b', 'must be an http(s) URL of at most 2048 characters'],
      ['https://example.com/\nx', 'must be an http(s) URL of at most 2048 characters'],
      [`https://example.com/${'p'.repeat(2029)}`, 'must be an http(s) URL of at most 2048 characters'],
      [42, 'must be an http(s) URL of at most 2048 characters'],
    ])('refuses %j', (url, problem) => {
      expect(problemOf({ thankYouUrl: url }, false)).toBe(`The field "thankYouUrl" ${problem}.`);
      expect(problemOf({ confirmedUrl: url }, false)).toBe(`The field "confirmedUrl" ${problem}.`);
    });

    it('accepts a URL of exactly 2048 characters', () => {
      const url = `https://example.com/${'p'.repeat(2028)}`;
      expect(url).toHaveLength(2048);
      expect(checkListInput({ thankYouUrl: url }, RULES, false).thankYouUrl).toBe(url);
    });
  });

  describe('the list’s own sender', () => {
    it.each([
      ['on MAIL_FROM’s domain', 'team@example.com', 'team@example.com'],
      ['on a subdomain of it', 'team@news.example.com', 'team@news.example.com'],
      ['on DKIM_DOMAIN', 'team@mail.example.org', 'team@mail.example.org'],
      ['on a subdomain of DKIM_DOMAIN', 'team@eu.mail.example.org', 'team@eu.mail.example.org'],
      ['with an upper-case domain', 'Team@EXAMPLE.com', 'Team@example.com'],
    ])('accepts an address %s', (_where, fromEmail, stored) => {
      expect(checkListInput({ fromEmail }, RULES, false).fromEmail).toBe(stored);
    });

    it.each([
      ['another domain', 'team@example.net'],
      ['a domain that merely ends like it', 'team@badexample.com'],
      ['a parent of DKIM_DOMAIN', 'team@example.org'],
      ['a domain that contains it', 'team@example.com.evil.net'],
    ])('refuses an address on %s: a From there fails DMARC', (_what, fromEmail) => {
      expect(problemOf({ fromEmail }, false)).toBe(
        'The field "fromEmail" must be an address at example.com or mail.example.org (or a subdomain): mail is signed and sent for that domain, and a From on another one fails DMARC.',
      );
    });

    it('compares internationalised domains in their ASCII form, and stores that form', () => {
      const rules = listRules({ mailFrom: 'news@Bücher.de', dkim: undefined });
      expect(checkListInput({ fromEmail: 'team@BÜCHER.de' }, rules, false).fromEmail).toBe('team@xn--bcher-kva.de');
      expect(checkListInput({ fromEmail: 'team@xn--bcher-kva.de' }, rules, false).fromEmail).toBe('team@xn--bcher-kva.de');
      expect(problemOf({ fromEmail: 'team@bucher.de' }, false, rules)).toMatch(
        /^The field "fromEmail" must be an address at xn--bcher-kva\.de/,
      );
    });

    // The configuration refuses such a MAIL_FROM (config.ts), so this is the function's rule only.
    it('accepts any domain when there is no sender domain to keep to (MAIL_FROM without an address, no DKIM)', () => {
      expect(checkListInput({ fromEmail: 'team@anywhere.test' }, { senderDomains: [] }, false).fromEmail).toBe('team@anywhere.test');
    });

    it.each([
      ['"team"@example.com', 'Quoted addresses'],
      ['Team <team@example.com>', 'not a valid email address'],
      ['team@example.com\r\nBcc: x@y.z', 'control characters'],
      ['example.com', 'needs a name'],
    ])('refuses %j, which is not one plain address', (fromEmail, reason) => {
      const message = problemOf({ fromEmail }, false);
      expect(message).toMatch(/^The field "fromEmail" must be an email address \(/);
      expect(message).toContain(reason);
    });

    it('refuses a non-string address, and clears it with null or ""', () => {
      expect(problemOf({ fromEmail: 7 }, false)).toBe('The field "fromEmail" must be an email address.');
      expect(checkListInput({ fromEmail: null, fromName: '' }, RULES, false)).toMatchObject({ fromEmail: null, fromName: null });
    });

    it('takes a display name of 1 to 100 characters on one line, trimmed', () => {
      expect(checkListInput({ fromName: '  Ann & Co.  ' }, RULES, false).fromName).toBe('Ann & Co.');
      expect(checkListInput({ fromName: 'n'.repeat(100) }, RULES, false).fromName).toHaveLength(100);
      const problem = 'The field "fromName" must be a name of 1 to 100 characters on one line.';
      for (const fromName of ['   ', 'n'.repeat(101), 'Ann\r\nBcc: x@example.com', 'tab\t', 'sep\u2029', 42]) {
        expect(problemOf({ fromName }, false), JSON.stringify(fromName)).toBe(problem);
      }
    });
  });

  it.each(['public', 'archived', 'goodbyeEmail'])('%s must be true or false', (field) => {
    expect(checkListInput({ [field]: false }, RULES, false)[field as 'public']).toBe(false);
    for (const value of ['true', 1, 0, null, 'yes']) {
      expect(problemOf({ [field]: value }, false)).toBe(`The field "${field}" must be true or false.`);
    }
  });
});

describe('createList and updateList', () => {
  let database: Database;
  beforeEach(() => {
    database = openSqliteDatabase(':memory:');
  });
  afterEach(async () => {
    await database.close();
  });

  /** The lists besides the one every database starts with (the migrations' `default`). */
  const slugs = async () =>
    (await database.db.select({ slug: database.tables.lists.slug }).from(database.tables.lists))
      .map((l) => l.slug)
      .filter((s) => s !== 'default');
  const rowOf = async (slug: string) =>
    (await database.db.select().from(database.tables.lists).where(eq(database.tables.lists.slug, slug)))[0];

  it('creates a valid list and shows it as stored', async () => {
    const view = await createList(
      database,
      RULES,
      { slug: 'news', name: { en: 'News', fr: 'Nouvelles' }, fromEmail: 'team@example.com', thankYouUrl: 'https://example.com/t' },
      NOW,
    );
    expect(view).toMatchObject({
      slug: 'news',
      name: { en: 'News', fr: 'Nouvelles' },
      fromEmail: 'team@example.com',
      thankYouUrl: 'https://example.com/t',
      public: false,
      archived: false,
      goodbyeEmail: false,
      createdAt: new Date(NOW).toISOString(),
      counts: { pending: 0, confirmed: 0, unsubscribed: 0 },
    });
    const row = await rowOf('news');
    // The plain name every reader can fall back on is the default locale's.
    expect(row).toMatchObject({ name: 'News', nameByLocale: JSON.stringify({ en: 'News', fr: 'Nouvelles' }) });
  });

  it('writes nothing when any field is wrong, whatever the order of the fields', async () => {
    await expect(createList(database, RULES, { slug: 'news', name: 'News', fromEmail: 'team@example.net' }, NOW)).rejects.toMatchObject({
      status: 400,
      code: 'invalid_list',
      message: expect.stringContaining('"fromEmail"'),
    });
    await expect(createList(database, RULES, { fromEmail: 'team@example.com', slug: 'Bad Slug', name: 'News' }, NOW)).rejects.toMatchObject(
      {
        status: 400,
        code: 'invalid_list',
        message: expect.stringContaining('"slug"'),
      },
    );
    expect(await slugs()).toEqual([]);
  });

  it('refuses a slug already taken with 409 list_exists', async () => {
    await createList(database, RULES, valid(), NOW);
    await expect(createList(database, RULES, valid({ name: 'Again' }), NOW)).rejects.toMatchObject({ status: 409, code: 'list_exists' });
    expect((await getList(database, 'news')).name).toBe('News');
  });

  it('changes only the fields an edit gives, leaves the list as it was when one of them is wrong, and clears with null', async () => {
    await createList(database, RULES, valid({ fromEmail: 'team@example.com', fromName: 'Team' }), NOW);
    await expect(updateList(database, RULES, 'news', { name: 'Renamed', confirmedUrl: 'ftp://x' }, NOW)).rejects.toMatchObject({
      status: 400,
      code: 'invalid_list',
      message: expect.stringContaining('"confirmedUrl"'),
    });
    expect(await getList(database, 'news')).toMatchObject({ name: 'News', confirmedUrl: null });

    const edited = await updateList(database, RULES, 'news', { name: 'Renamed', fromEmail: null }, NOW + 1);
    expect(edited).toMatchObject({ slug: 'news', name: 'Renamed', fromEmail: null, fromName: 'Team' });
  });

  it('refuses an edit of the slug, and of a list that does not exist (404 unknown_list)', async () => {
    await createList(database, RULES, valid(), NOW);
    await expect(updateList(database, RULES, 'news', { slug: 'renamed' }, NOW)).rejects.toMatchObject({
      status: 400,
      code: 'invalid_list',
    });
    await expect(updateList(database, RULES, 'nothing', { name: 'X' }, NOW)).rejects.toMatchObject({ status: 404, code: 'unknown_list' });
    await expect(updateList(database, RULES, 'Not A Slug', { name: 'X' }, NOW)).rejects.toMatchObject({
      status: 404,
      code: 'unknown_list',
    });
    expect(await slugs()).toEqual(['news']);
  });

  it('archives with the date of the first archiving, and un-archives', async () => {
    await createList(database, RULES, valid(), NOW);
    expect(await updateList(database, RULES, 'news', { archived: true }, NOW + 1)).toMatchObject({ archived: true });
    await updateList(database, RULES, 'news', { archived: true }, NOW + 2);
    const row = await rowOf('news');
    expect(row!.archivedAt).toBe(NOW + 1);
    expect(await updateList(database, RULES, 'news', { archived: false }, NOW + 3)).toMatchObject({ archived: false });
  });
});
