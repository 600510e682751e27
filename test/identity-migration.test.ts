import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase, type Db } from '../src/db/client.js';
import { consentEvents, contacts, lists, subscriptions, suppressions } from '../src/db/schema.js';
import { addressHashes, findSuppression } from '../src/subscriptions/suppression.js';
import { postJson, settle, waitFor } from './support/http.js';
import { startTestService, TEST_SECRET, type TestService } from './support/service.js';

const DAY = 86_400_000;
let dataDir: string;
let t: TestService | undefined;

beforeAll(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'optin-identity-migration-'));
});
afterAll(async () => {
  await t?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The database as an older version left it: keys written while quoted local parts were accepted. */
function seedOldDatabase(): void {
  const db = openDatabase(path.join(dataDir, 'optin.db'));
  const at = Date.now() - 30 * DAY;
  const weekly = db.insert(lists).values({ slug: 'weekly', name: 'Weekly', createdAt: at }).returning().get();
  const contact = (email: string) => db.insert(contacts).values({ email, emailKey: email.toLowerCase(), name: null, locale: 'en', createdAt: at }).returning().get();
  const subscribe = (contactId: number, listId: number, status: 'pending' | 'confirmed' | 'unsubscribed') =>
    db.insert(subscriptions).values({ contactId, listId, status, createdAt: at, confirmExpiresAt: status === 'pending' ? Date.now() + DAY : null, confirmedAt: status === 'pending' ? null : at }).returning().get();
  const suppress = (emailKey: string, listId: number | null, reason: 'unsubscribed' | 'bounced') =>
    db.insert(suppressions).values({ emailHash: addressHashes([TEST_SECRET], emailKey)[0]!, email: emailKey, domain: 'example.com', listId, reason, source: 'unsubscribe link', createdAt: at }).run();

  // Only a quoted spelling: re-keyed to the mailbox it reached, with its history.
  const ann = contact('"Ann"@example.com');
  subscribe(ann.id, 1, 'confirmed');
  db.insert(consentEvents).values({ contactId: ann.id, listId: 1, action: 'confirmed', at }).run();
  // A suppressed spelling of a mailbox that was never a contact, and one of a person who is.
  suppress('" bob"@example.com', null, 'unsubscribed');
  // Both spellings as contacts: merged; the quoted one opted out of `default`, the plain one is pending there.
  const cy = contact('cy@example.com');
  subscribe(cy.id, 1, 'pending');
  const cyQuoted = contact('"c\\y"@example.com');
  subscribe(cyQuoted.id, 1, 'unsubscribed');
  subscribe(cyQuoted.id, weekly.id, 'confirmed');
  db.insert(consentEvents).values({ contactId: cyQuoted.id, listId: weekly.id, action: 'confirmed', at }).run();
  suppress('"c\\y"@example.com', 1, 'unsubscribed');
  // A quoted key that is no plain address at all: nothing to re-key it to.
  contact('"d e"@example.com');
  closeDatabase(db);
}

const contactKeys = (db: Db) => db.select({ key: contacts.emailKey }).from(contacts).all().map((c) => c.key).sort();
const blocks = (db: Db, emailKey: string, listId: number | null) => findSuppression(db, [TEST_SECRET], emailKey, listId)?.reason;

describe('data migration of quoted local parts', () => {
  it('re-keys or merges quoted contacts and keeps their suppression entries effective, once', async () => {
    seedOldDatabase();
    t = await startTestService({ dataDir });
    const db = t.service.db;

    expect(contactKeys(db)).toEqual(['"d e"@example.com', 'ann@example.com', 'cy@example.com']);
    const ann = db.select().from(contacts).where(eq(contacts.emailKey, 'ann@example.com')).get()!;
    expect(ann.email).toBe('Ann@example.com');
    expect(db.select().from(subscriptions).where(eq(subscriptions.contactId, ann.id)).all()).toEqual([expect.objectContaining({ listId: 1, status: 'confirmed' })]);
    expect(db.select({ action: consentEvents.action }).from(consentEvents).where(eq(consentEvents.contactId, ann.id)).all().map((e) => e.action)).toEqual(['confirmed', 'identity_migrated']);

    const cy = db.select().from(contacts).where(eq(contacts.emailKey, 'cy@example.com')).get()!;
    const cySubscriptions = db.select().from(subscriptions).where(eq(subscriptions.contactId, cy.id)).all();
    expect(cySubscriptions.map((s) => [s.listId, s.status]).sort()).toEqual([
      [1, 'unsubscribed'],
      [2, 'confirmed'],
    ]);
    expect(db.select({ action: consentEvents.action }).from(consentEvents).where(eq(consentEvents.contactId, cy.id)).all().map((e) => e.action)).toEqual(['confirmed', 'identity_migrated']);

    // The opt-outs now hold for the mailboxes, and no entry names a quoted spelling any more.
    expect(blocks(db, 'bob@example.com', null)).toBe('unsubscribed');
    expect(blocks(db, 'cy@example.com', 1)).toBe('unsubscribed');
    expect(blocks(db, 'cy@example.com', 2)).toBeUndefined();
    expect(db.select({ email: suppressions.email }).from(suppressions).all().map((s) => s.email).sort()).toEqual(['bob@example.com', 'cy@example.com']);

    expect((await postJson(`${t.url}/subscribe`, { email: 'bob@example.com' })).status).toBe(202);
    expect((await postJson(`${t.url}/subscribe`, { email: 'Cy@example.com' })).status).toBe(202);
    expect((await postJson(`${t.url}/subscribe`, { email: 'control@example.com' })).status).toBe(202);
    await waitFor(() => t!.smtp.to('control@example.com')[0], 5000, 'the control signup’s confirmation');
    await settle();
    expect(t.smtp.to('bob@example.com')).toEqual([]);
    expect(t.smtp.to('cy@example.com')).toEqual([]);

    // Recorded: a quoted row written after the migration ran is not touched by a restart.
    await t.stop();
    t = undefined;
    const db2 = openDatabase(path.join(dataDir, 'optin.db'));
    db2.insert(contacts).values({ email: '"eve"@example.com', emailKey: '"eve"@example.com', locale: 'en', createdAt: Date.now() }).run();
    closeDatabase(db2);
    t = await startTestService({ dataDir });
    expect(contactKeys(t.service.db)).toContain('"eve"@example.com');
    expect(contactKeys(t.service.db)).not.toContain('eve@example.com');
  });
});
