import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type Database } from '../../src/platform/db/database.js';
import type { SuppressionReason } from '../../src/platform/db/schema.js';
import { domainOf, parseAddress } from '../../src/platform/mail/address.js';
import {
  addressEntryConditions,
  addressHashes,
  entriesOfAddress,
  findSuppression,
  findSuppressions,
  suppressAddress,
  suppressAddresses,
} from '../../src/features/policy/suppressions.js';

/*
 * How suppression entries are found: by keyed hashes of the canonical address (parseAddress's
 * emailKey), one per configured secret, in the scope of one list or of every list. One mailbox
 * is one key: the domain is compared in lower-case ASCII (punycode), and so is the local part
 * (the key is the whole address lower-cased); nothing else is folded (no dots, no +tags).
 */

const CURRENT = 'matching-secret-current-0123456789';
const RETIRED = 'matching-secret-retired-0123456789';
const NOW = Date.UTC(2030, 0, 15, 12);

const keyOf = (typed: string): string => {
  const parsed = parseAddress(typed);
  if (!parsed.ok) throw new Error(`${typed}: ${parsed.message}`);
  return parsed.address.emailKey;
};

describe('addressHashes', () => {
  it('is one HMAC-SHA256 of "address:<key>" per secret, in the secrets’ order (stored hashes depend on this format)', () => {
    const hashes = addressHashes([CURRENT, RETIRED], 'ann@example.com');
    expect(hashes).toEqual([
      createHmac('sha256', CURRENT).update('address:ann@example.com').digest('base64url'),
      createHmac('sha256', RETIRED).update('address:ann@example.com').digest('base64url'),
    ]);
    // A fixed vector: a change of the format would orphan every entry already written.
    expect(addressHashes(['matching-secret-a'], 'ann@example.com')).toEqual(['RSfnFBA44UHBlfST6NCSe-TU17Ym7NaK_MTib5fcD90']);
    expect(addressHashes([], 'ann@example.com')).toEqual([]);
  });

  it('is keyed: another secret gives another hash, and the hash does not contain the address', () => {
    const [a] = addressHashes([CURRENT], 'ann@example.com');
    const [b] = addressHashes([RETIRED], 'ann@example.com');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a).not.toContain('ann');
    expect(addressHashes([CURRENT], 'ann@example.com')).toEqual([a]);
  });

  it('hashes the key exactly as given: folding spellings together is parseAddress’s job', () => {
    expect(addressHashes([CURRENT], 'Ann@example.com')).not.toEqual(addressHashes([CURRENT], 'ann@example.com'));
    expect(addressHashes([CURRENT], keyOf('Ann@EXAMPLE.com'))).toEqual(addressHashes([CURRENT], 'ann@example.com'));
  });

  it.each([
    ['ann@example.com', 'ANN@EXAMPLE.COM'],
    ['Ann.Smith@example.com', 'ann.smith@Example.Com'],
    ['jo@bücher.de', 'jo@xn--bcher-kva.de'],
    ['jo@BÜCHER.DE', 'JO@XN--BCHER-KVA.DE'],
    ['ann@ｅｘａｍｐｌｅ.com', 'ann@example.com'],
    [' ann@example.com\t', 'ann@example.com'],
  ])('gives %j and %j, one mailbox, the same hashes', (a, b) => {
    expect(addressHashes([CURRENT, RETIRED], keyOf(a))).toEqual(addressHashes([CURRENT, RETIRED], keyOf(b)));
  });

  it.each([
    ['ann@example.com', 'ann+news@example.com'],
    ['ann.smith@example.com', 'annsmith@example.com'],
    ['ann@example.com', 'ann@example.org'],
    ['ann@example.com', 'ann@mail.example.com'],
    ['jo@bücher.de', 'jo@bucher.de'],
    ['ann@example.com', 'anne@example.com'],
  ])('gives %j and %j, two mailboxes, different hashes', (a, b) => {
    expect(addressHashes([CURRENT], keyOf(a))).not.toEqual(addressHashes([CURRENT], keyOf(b)));
  });

  it('leaves quoted spellings no key of their own (parseAddress refuses them)', () => {
    for (const quoted of ['"ann"@example.com', '" ann"@example.com', '"a\\nn"@example.com']) expect(parseAddress(quoted).ok).toBe(false);
  });
});

describe('suppression lookups', () => {
  let database: Database;
  let listA: number;
  let listB: number;

  beforeEach(async () => {
    database = openSqliteDatabase(':memory:');
    [listA, listB] = (await database.transaction(async (tx) =>
      (
        await tx.db
          .insert(tx.tables.lists)
          .values([
            { slug: 'a', name: 'A', createdAt: NOW },
            { slug: 'b', name: 'B', createdAt: NOW },
          ])
          .returning({ id: tx.tables.lists.id })
      ).map((row) => row.id),
    )) as [number, number];
  });
  afterEach(async () => {
    await database.close();
  });

  const suppress = (
    emailKey: string,
    listId: number | null,
    reason: SuppressionReason = 'manual',
    secrets: readonly string[] = [CURRENT],
  ): Promise<{ id: number; created: boolean }> =>
    database.transaction((tx) =>
      suppressAddress(tx, secrets, { emailKey, domain: domainOf(emailKey), listId, reason, source: 'unit test', at: NOW }),
    );

  describe('findSuppression', () => {
    it('matches an entry for every list whatever the list asked about, and for "every list" itself', async () => {
      const { id } = await suppress('ann@example.com', null, 'bounced');
      for (const listId of [listA, listB, null]) {
        expect(await findSuppression(database, [CURRENT], 'ann@example.com', listId)).toEqual({ id, reason: 'bounced' });
      }
    });

    it('matches a list’s entry for that list only, not for another list nor for "every list"', async () => {
      const { id } = await suppress('ann@example.com', listA, 'unsubscribed');
      expect(await findSuppression(database, [CURRENT], 'ann@example.com', listA)).toEqual({ id, reason: 'unsubscribed' });
      expect(await findSuppression(database, [CURRENT], 'ann@example.com', listB)).toBeUndefined();
      expect(await findSuppression(database, [CURRENT], 'ann@example.com', null)).toBeUndefined();
    });

    it('matches every spelling of the mailbox and no other mailbox', async () => {
      await suppress(keyOf('Kim.Lee@Bücher.de'), null);
      for (const same of ['kim.lee@bücher.de', 'KIM.LEE@XN--BCHER-KVA.DE', ' kim.lee@BÜCHER.de ']) {
        expect(await findSuppression(database, [CURRENT], keyOf(same), listA), same).toMatchObject({ reason: 'manual' });
      }
      for (const other of ['kimlee@bücher.de', 'kim.lee+x@bücher.de', 'kim.lee@bucher.de', 'kim.lee@xn--bcher-kva.com']) {
        expect(await findSuppression(database, [CURRENT], keyOf(other), listA), other).toBeUndefined();
      }
    });

    it('still matches an entry written under a retired secret while that secret stays configured, and only then', async () => {
      const { id } = await suppress('ann@example.com', listA, 'complained', [RETIRED]);
      expect(await findSuppression(database, [CURRENT, RETIRED], 'ann@example.com', listA)).toEqual({ id, reason: 'complained' });
      expect(await findSuppression(database, [RETIRED, CURRENT], 'ann@example.com', listA)).toEqual({ id, reason: 'complained' });
      expect(await findSuppression(database, [CURRENT], 'ann@example.com', listA)).toBeUndefined();
    });

    it('matches an erased entry, which keeps only the hash', async () => {
      const { id } = await suppress('ann@example.com', null, 'erased');
      await database.transaction((tx) => tx.db.update(tx.tables.suppressions).set({ email: null, domain: null }));
      expect(await findSuppression(database, [CURRENT], 'ann@example.com', listA)).toEqual({ id, reason: 'erased' });
    });
  });

  describe('findSuppressions', () => {
    it('answers per key given, for one list and every list, like findSuppression', async () => {
      const all = await suppress('all@example.com', null, 'bounced');
      const here = await suppress('here@example.com', listA, 'unsubscribed');
      await suppress('elsewhere@example.com', listB, 'manual');
      const keys = ['all@example.com', 'here@example.com', 'elsewhere@example.com', 'free@example.com', 'here@example.com'];
      const found = await findSuppressions(database, [CURRENT], keys, listA);
      expect(found).toEqual(
        new Map([
          ['all@example.com', { id: all.id, reason: 'bounced' }],
          ['here@example.com', { id: here.id, reason: 'unsubscribed' }],
        ]),
      );
      for (const key of keys) expect(found.get(key)).toEqual(await findSuppression(database, [CURRENT], key, listA));
      expect(await findSuppressions(database, [CURRENT], [], listA)).toEqual(new Map());
    });

    it('names the entry that is not an opt-out when an address has several', async () => {
      await suppress('ann@example.com', listA, 'unsubscribed');
      const bounce = await suppress('ann@example.com', null, 'bounced');
      expect(await findSuppressions(database, [CURRENT], ['ann@example.com'], listA)).toEqual(
        new Map([['ann@example.com', { id: bounce.id, reason: 'bounced' }]]),
      );
    });

    it('finds entries written under any configured secret', async () => {
      const old = await suppress('old@example.com', null, 'complained', [RETIRED]);
      const fresh = await suppress('new@example.com', null, 'manual', [CURRENT]);
      const found = await findSuppressions(database, [CURRENT, RETIRED], ['old@example.com', 'new@example.com'], listA);
      expect(found.get('old@example.com')).toEqual({ id: old.id, reason: 'complained' });
      expect(found.get('new@example.com')).toEqual({ id: fresh.id, reason: 'manual' });
      expect((await findSuppressions(database, [CURRENT], ['old@example.com'], listA)).size).toBe(0);
    });

    it('finds entries in every chunk of a long batch (more than 500 addresses)', async () => {
      const keys = Array.from({ length: 1201 }, (_, i) => `person${i}@example.com`);
      const blocked = [0, 1, 499, 500, 501, 999, 1000, 1200];
      await database.transaction((tx) =>
        suppressAddresses(
          tx,
          [CURRENT],
          blocked.map((i) => ({
            emailKey: keys[i]!,
            domain: 'example.com',
            listId: null,
            reason: 'bounced' as const,
            source: 'import',
            at: NOW,
          })),
        ),
      );
      const found = await findSuppressions(database, [CURRENT], keys, listA);
      expect([...found.keys()].sort()).toEqual(blocked.map((i) => keys[i]!).sort());
    });
  });

  describe('entriesOfAddress and addressEntryConditions', () => {
    it('select every entry of the address, in any scope and under any configured secret, and nothing else', async () => {
      const mine = [
        await suppress('ann@example.com', null, 'bounced', [RETIRED]),
        await suppress('ann@example.com', listA, 'unsubscribed'),
        await suppress('ann@example.com', listB, 'manual'),
      ];
      await suppress('bob@example.com', null);
      await suppress('bob@example.com', listA);
      const { suppressions } = database.tables;
      const ids = async (where: ReturnType<typeof entriesOfAddress>) =>
        (await database.db.select({ id: suppressions.id }).from(suppressions).where(where)).map((r) => r.id).sort();

      expect(await ids(entriesOfAddress(database.tables, [CURRENT, RETIRED], 'ann@example.com'))).toEqual(mine.map((e) => e.id).sort());
      expect(await ids(entriesOfAddress(database.tables, [CURRENT], 'ann@example.com'))).toEqual([mine[1]!.id, mine[2]!.id].sort());
      const [allLists, oneList] = addressEntryConditions(database.tables, [CURRENT, RETIRED], 'ann@example.com');
      expect(await ids(allLists)).toEqual([mine[0]!.id]);
      expect(await ids(oneList)).toEqual([mine[1]!.id, mine[2]!.id].sort());
    });
  });

  describe('suppressAddress', () => {
    it('writes the current secret’s hash, the key and its domain', async () => {
      const { id, created } = await database.transaction((tx) =>
        suppressAddress(tx, [CURRENT, RETIRED], {
          emailKey: 'ann@xn--bcher-kva.de',
          domain: 'xn--bcher-kva.de',
          listId: listA,
          reason: 'manual',
          source: 'admin',
          at: NOW,
        }),
      );
      expect(created).toBe(true);
      const [row] = await database.db.select().from(database.tables.suppressions);
      expect(row).toMatchObject({
        id,
        emailHash: addressHashes([CURRENT], 'ann@xn--bcher-kva.de')[0],
        email: 'ann@xn--bcher-kva.de',
        domain: 'xn--bcher-kva.de',
        listId: listA,
        reason: 'manual',
        createdAt: NOW,
      });
    });

    it('keeps one entry per address, scope and reason, whatever the spelling or the secret it was first written under', async () => {
      const first = await suppress(keyOf('ann@example.com'), listA, 'unsubscribed', [RETIRED]);
      expect(first.created).toBe(true);
      const again = await suppress(keyOf('ANN@Example.COM'), listA, 'unsubscribed', [CURRENT, RETIRED]);
      expect(again).toEqual({ id: first.id, created: false });
      // Another reason is a fact of its own, and the lookup names it before the person's own opt-out.
      const bounce = await suppress(keyOf('ANN@Example.COM'), listA, 'bounced', [CURRENT, RETIRED]);
      expect(bounce.created).toBe(true);
      expect(await findSuppression(database, [CURRENT, RETIRED], 'ann@example.com', listA)).toEqual({
        id: bounce.id,
        reason: 'bounced',
      });
      const otherScope = await suppress('ann@example.com', null, 'bounced', [CURRENT, RETIRED]);
      expect(otherScope.created).toBe(true);
      expect(await database.db.select().from(database.tables.suppressions)).toHaveLength(3);
    });

    it('writes a second entry when the secret that wrote the first is no longer configured', async () => {
      await suppress('ann@example.com', listA, 'unsubscribed', [RETIRED]);
      expect((await suppress('ann@example.com', listA, 'unsubscribed', [CURRENT])).created).toBe(true);
      expect(await database.db.select().from(database.tables.suppressions)).toHaveLength(2);
    });

    it('in a batch, gives an address named twice in one scope one entry (the repeat is not created)', async () => {
      const entry = {
        emailKey: 'ann@example.com',
        domain: 'example.com',
        listId: listA,
        reason: 'manual' as const,
        source: 'import',
        at: NOW,
      };
      const results = await database.transaction((tx) => suppressAddresses(tx, [CURRENT], [entry, entry, { ...entry, listId: null }]));
      expect(results.map((r) => r.created)).toEqual([true, false, true]);
      expect(results[1]!.id).toBe(results[0]!.id);
      expect(results[2]!.id).not.toBe(results[0]!.id);
    });
  });
});
