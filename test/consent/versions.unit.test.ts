import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type Database } from '../../src/platform/db/database.js';
import type { Row } from '../../src/platform/db/database.js';
import {
  checkConsentText,
  consentHistory,
  consentVersionOf,
  currentConsentStatement,
  setConsentStatement,
  signupConsentVersion,
} from '../../src/features/consent/service.js';

/*
 * A list's consent statements as stored versions, and which version a signup may record
 * (consentVersionOf itself is covered in test/preferences/preferences.unit.test.ts). Until now
 * these rules were checked only through the service (test/preferences/preferences.test.ts).
 */

const NOW = Date.UTC(2030, 0, 15, 12);
const WORDS = { en: 'I agree to receive Alpha news.', fr: 'J’accepte de recevoir Alpha news.' };

let database: Database;
beforeEach(async () => {
  database = openSqliteDatabase(':memory:');
  await database.transaction((tx) =>
    tx.db.insert(tx.tables.lists).values([
      { slug: 'alpha', name: 'Alpha', createdAt: NOW },
      { slug: 'beta', name: 'Beta', createdAt: NOW },
      { slug: 'strict', name: 'Strict', createdAt: NOW, requireConsent: true },
      { slug: 'gone', name: 'Gone', createdAt: NOW, archivedAt: NOW },
    ]),
  );
});
afterEach(async () => {
  await database.close();
});

const listRow = async (slug: string): Promise<Row<'lists'>> =>
  (await database.db.select().from(database.tables.lists).where(eq(database.tables.lists.slug, slug)))[0]!;

describe('setConsentStatement', () => {
  it('stores the words under their version and makes it the list’s current statement', async () => {
    const { version, created } = await setConsentStatement(database, 'alpha', WORDS, NOW);
    expect(created).toBe(true);
    expect(version).toBe(consentVersionOf('alpha', WORDS));
    const list = await listRow('alpha');
    expect(list.consentVersion).toBe(version);
    expect(await currentConsentStatement(database, list)).toEqual({ version, text: WORDS, createdAt: NOW });
  });

  it('stores nothing new for the same words again (same version), and never changes an old version', async () => {
    const first = await setConsentStatement(database, 'alpha', WORDS, NOW);
    const second = await setConsentStatement(database, 'alpha', { en: 'New words.' }, NOW + 1);
    const again = await setConsentStatement(database, 'alpha', { fr: WORDS.fr, en: WORDS.en }, NOW + 2);
    expect(again).toEqual({ version: first.version, created: false });
    expect(second.version).not.toBe(first.version);
    expect((await listRow('alpha')).consentVersion).toBe(first.version);
    // Newest first; the first version kept its words and its date.
    expect(await consentHistory(database, (await listRow('alpha')).id)).toEqual([
      { version: second.version, text: { en: 'New words.' }, createdAt: NOW + 1 },
      { version: first.version, text: WORDS, createdAt: NOW },
    ]);
  });

  it('gives the same words on two lists two versions', async () => {
    const alpha = await setConsentStatement(database, 'alpha', WORDS, NOW);
    const beta = await setConsentStatement(database, 'beta', WORDS, NOW);
    expect(alpha.version).not.toBe(beta.version);
    expect(beta.created).toBe(true);
  });

  it('refuses an unknown or archived list with 404 unknown_list', async () => {
    await expect(setConsentStatement(database, 'nothing', WORDS, NOW)).rejects.toMatchObject({ status: 404, code: 'unknown_list' });
    await expect(setConsentStatement(database, 'gone', WORDS, NOW)).rejects.toMatchObject({ status: 404, code: 'unknown_list' });
    expect(await database.db.select().from(database.tables.consentTexts)).toEqual([]);
  });
});

describe('signupConsentVersion', () => {
  it('records the version the form carried, the current one or an older one of this list', async () => {
    const old = await setConsentStatement(database, 'alpha', WORDS, NOW);
    const current = await setConsentStatement(database, 'alpha', { en: 'Newer words.' }, NOW + 1);
    const list = await listRow('alpha');
    expect(await signupConsentVersion(database, list, current.version)).toBe(current.version);
    // The person saw those words: an old version stays valid.
    expect(await signupConsentVersion(database, list, old.version)).toBe(old.version);
  });

  it('refuses a version of another list, or of no list, with 400 unknown_consent_version', async () => {
    const beta = await setConsentStatement(database, 'beta', WORDS, NOW);
    await setConsentStatement(database, 'alpha', WORDS, NOW);
    const alpha = await listRow('alpha');
    for (const given of [beta.version, 'ffffffffffff', consentVersionOf('alpha', { en: 'never stored' }), "' or 1=1 --"]) {
      await expect(signupConsentVersion(database, alpha, given), given).rejects.toMatchObject({
        status: 400,
        code: 'unknown_consent_version',
      });
    }
  });

  it('records no version when none is given, unless the list requires consent (400 consent_required)', async () => {
    const alpha = await listRow('alpha');
    for (const none of [undefined, null, '']) expect(await signupConsentVersion(database, alpha, none)).toBeNull();
    const { version } = await setConsentStatement(database, 'strict', WORDS, NOW);
    const strict = await listRow('strict');
    for (const none of [undefined, null, '']) {
      await expect(signupConsentVersion(database, strict, none)).rejects.toMatchObject({ status: 400, code: 'consent_required' });
    }
    expect(await signupConsentVersion(database, strict, version)).toBe(version);
  });
});

describe('checkConsentText', () => {
  it('takes one statement of at most 1000 characters, or one per known locale, trimmed', () => {
    expect(checkConsentText('  I agree.  ')).toBe('I agree.');
    expect(checkConsentText({ fr: 'J’accepte.' })).toEqual({ fr: 'J’accepte.' });
    expect(checkConsentText('a'.repeat(1000))).toHaveLength(1000);
    for (const bad of ['', '   ', 'a'.repeat(1001), { en: '' }, { xx: 'hi' }, {}, ['I agree'], 5, null]) {
      expect(() => checkConsentText(bad), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ status: 400, code: 'invalid_consent_text' }),
      );
    }
  });
});
