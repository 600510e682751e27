import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../src/platform/db/database.js';
import { addressHashes, findSuppression } from '../../src/features/policy/suppressions.js';
import { canary } from '../support/canary.js';
import { postJson, waitFor } from '../support/http.js';
import { openTestDatabase, removeDataDir, startTestService, TEST_SECRET, type TestService } from '../support/service.js';

const DAY = 86_400_000;
let dataDir: string;
let t: TestService | undefined;

beforeAll(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'optin-identity-migration-'));
});
afterAll(async () => {
  await t?.stop();
  await removeDataDir(dataDir);
});

/** The database as an older version left it: keys written while quoted local parts were accepted. */
async function seedOldDatabase(): Promise<void> {
  const database = await openTestDatabase(dataDir);
  try {
    await database.transaction(async ({ db, tables: { consentEvents, contacts, lists, subscriptions, suppressions } }) => {
      const at = Date.now() - 30 * DAY;
      const [weekly] = await db.insert(lists).values({ slug: 'weekly', name: 'Weekly', createdAt: at }).returning();
      const contact = async (email: string) =>
        (
          await db.insert(contacts).values({ email, emailKey: email.toLowerCase(), name: null, locale: 'en', createdAt: at }).returning()
        )[0]!;
      const subscribe = (contactId: number, listId: number, status: 'pending' | 'confirmed' | 'unsubscribed') =>
        db.insert(subscriptions).values({
          contactId,
          listId,
          status,
          createdAt: at,
          confirmExpiresAt: status === 'pending' ? Date.now() + DAY : null,
          confirmedAt: status === 'pending' ? null : at,
        });
      const suppress = (emailKey: string, listId: number | null, reason: 'unsubscribed' | 'bounced') =>
        db.insert(suppressions).values({
          emailHash: addressHashes([TEST_SECRET], emailKey)[0]!,
          email: emailKey,
          domain: 'example.com',
          listId,
          reason,
          source: 'unsubscribe link',
          createdAt: at,
        });

      // Only a quoted spelling: re-keyed to the mailbox it reached, with its history.
      const ann = await contact('"Ann"@example.com');
      await subscribe(ann.id, 1, 'confirmed');
      await db.insert(consentEvents).values({ contactId: ann.id, listId: 1, action: 'confirmed', at });
      // A suppressed spelling of a mailbox that was never a contact, and one of a person who is.
      await suppress('" bob"@example.com', null, 'unsubscribed');
      // Both spellings as contacts: merged; the quoted one opted out of `default`, the plain one is pending there.
      const cy = await contact('cy@example.com');
      await subscribe(cy.id, 1, 'pending');
      const cyQuoted = await contact('"c\\y"@example.com');
      await subscribe(cyQuoted.id, 1, 'unsubscribed');
      await subscribe(cyQuoted.id, weekly!.id, 'confirmed');
      await db.insert(consentEvents).values({ contactId: cyQuoted.id, listId: weekly!.id, action: 'confirmed', at });
      await suppress('"c\\y"@example.com', 1, 'unsubscribed');
      // A quoted key that is no plain address at all: nothing to re-key it to.
      await contact('"d e"@example.com');
    });
  } finally {
    await database.close();
  }
}

const contactKeys = async ({ db, tables: { contacts } }: Scope) =>
  (await db.select({ key: contacts.emailKey }).from(contacts)).map((c) => c.key).sort();
const blocks = async (scope: Scope, emailKey: string, listId: number | null) =>
  (await findSuppression(scope, [TEST_SECRET], emailKey, listId))?.reason;

describe('data migration of quoted local parts', () => {
  it('re-keys or merges quoted contacts and keeps their suppression entries effective, once', async () => {
    await seedOldDatabase();
    t = await startTestService({ dataDir });
    const database = t.service.database;
    const {
      db,
      tables: { consentEvents, contacts, subscriptions, suppressions },
    } = database;
    const actionsOf = async (contactId: number) =>
      (
        await db
          .select({ action: consentEvents.action })
          .from(consentEvents)
          .where(eq(consentEvents.contactId, contactId))
          .orderBy(consentEvents.id)
      ).map((e) => e.action);

    expect(await contactKeys(database)).toEqual(['"d e"@example.com', 'ann@example.com', 'cy@example.com']);
    const [ann] = await db.select().from(contacts).where(eq(contacts.emailKey, 'ann@example.com'));
    expect(ann!.email).toBe('Ann@example.com');
    expect(await db.select().from(subscriptions).where(eq(subscriptions.contactId, ann!.id))).toEqual([
      expect.objectContaining({ listId: 1, status: 'confirmed' }),
    ]);
    expect(await actionsOf(ann!.id)).toEqual(['confirmed', 'identity_migrated']);

    const [cy] = await db.select().from(contacts).where(eq(contacts.emailKey, 'cy@example.com'));
    const cySubscriptions = await db.select().from(subscriptions).where(eq(subscriptions.contactId, cy!.id));
    expect(cySubscriptions.map((s) => [s.listId, s.status]).sort()).toEqual([
      [1, 'unsubscribed'],
      [2, 'confirmed'],
    ]);
    expect(await actionsOf(cy!.id)).toEqual(['confirmed', 'identity_migrated']);

    // The opt-outs now hold for the mailboxes, and no entry names a quoted spelling any more.
    expect(await blocks(database, 'bob@example.com', null)).toBe('unsubscribed');
    expect(await blocks(database, 'cy@example.com', 1)).toBe('unsubscribed');
    expect(await blocks(database, 'cy@example.com', 2)).toBeUndefined();
    expect((await db.select({ email: suppressions.email }).from(suppressions)).map((s) => s.email).sort()).toEqual([
      'bob@example.com',
      'cy@example.com',
    ]);

    expect((await postJson(`${t.url}/subscribe`, { email: 'bob@example.com' })).status).toBe(202);
    expect((await postJson(`${t.url}/subscribe`, { email: 'Cy@example.com' })).status).toBe(202);
    expect((await postJson(`${t.url}/subscribe`, { email: 'control@example.com' })).status).toBe(202);
    await waitFor(() => t!.smtp.to('control@example.com')[0], 5000, 'the control signup’s confirmation');
    await canary(t);
    expect(t.smtp.to('bob@example.com')).toEqual([]);
    expect(t.smtp.to('cy@example.com')).toEqual([]);

    // Recorded: a quoted row written after the migration ran is not touched by a restart.
    await t.stop();
    t = undefined;
    const beside = await openTestDatabase(dataDir);
    try {
      await beside.transaction(async ({ db, tables: { contacts } }) => {
        await db
          .insert(contacts)
          .values({ email: '"eve"@example.com', emailKey: '"eve"@example.com', locale: 'en', createdAt: Date.now() });
      });
    } finally {
      await beside.close();
    }
    t = await startTestService({ dataDir });
    expect(await contactKeys(t.service.database)).toContain('"eve"@example.com');
    expect(await contactKeys(t.service.database)).not.toContain('eve@example.com');
  });
});
