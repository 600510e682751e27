import { and, eq, gte, like, lt, type SQL } from 'drizzle-orm';
import type { Row, Scope, Tables } from '../../platform/db/database.js';
import type { SubscriptionStatus } from '../../platform/db/schema.js';
import { smtpRecipientsOf } from '../../platform/mail/envelope.js';
import { parseAddress, type CanonicalAddress } from '../../platform/mail/address.js';
import { recordConsent } from './consentTrail.js';
import { suppressAddress } from './suppressions.js';

export interface QuotedAddressReport {
  /** Contacts re-keyed to the mailbox their quoted spelling reached. */
  rekeyed: number;
  /** Contacts merged into the contact that already had that mailbox's key. */
  merged: number;
  /** Suppression entries the mailbox behind a suppressed quoted spelling did not have yet. */
  suppressionsAdded: number;
  /** Quoted keys that stand for no plain address (e.g. `"a b"@…`): left as they are, and never mailed. */
  leftAsIs: number;
}

/**
 * The mailbox a stored quoted spelling really reached: nodemailer's reading of it, when that
 * is an address the parse accepts today. Lower-cased keys give the lower-cased mailbox.
 */
function mailboxOf(stored: string): CanonicalAddress | null {
  const recipients = smtpRecipientsOf(stored);
  if (recipients.length !== 1) return null;
  const parsed = parseAddress(recipients[0]!);
  return parsed.ok ? parsed.address : null;
}

/**
 * Keys whose local part starts with a quote. SQLite: a range on the unique/indexed column, not
 * a scan (it compares BINARY, so the range means "starts with"). PostgreSQL compares with the
 * database's collation, under which a range need not mean "starts with": LIKE does, whatever the
 * collation (a scan, once).
 */
const quotedKeys = (scope: Scope, column: Tables['contacts']['emailKey'] | Tables['suppressions']['email']): SQL =>
  scope.dialect === 'sqlite' ? and(gte(column, '"'), lt(column, '#'))! : like(column, '"%');

/** When two rows of one contact cover the same list, the one that says "stop" wins. */
const PRECEDENCE: Record<SubscriptionStatus, number> = { unsubscribed: 2, confirmed: 1, pending: 0 };

/**
 * Moves everything of the contact `from` onto `into` (the same mailbox under its real key) and
 * deletes `from`. Subscriptions move unless `into` already has that list; then the stronger
 * status is kept. The consent log is append-only, so its rows are copied, then deleted.
 */
async function mergeContact(tx: Scope, from: Row<'contacts'>, into: Row<'contacts'>, now: number): Promise<void> {
  const { consentEvents, contacts, subscriptions } = tx.tables;
  for (const moving of await tx.db.select().from(subscriptions).where(eq(subscriptions.contactId, from.id))) {
    const [staying] = await tx.db
      .select()
      .from(subscriptions)
      .where(and(eq(subscriptions.contactId, into.id), eq(subscriptions.listId, moving.listId)));
    if (!staying) {
      await tx.db.update(subscriptions).set({ contactId: into.id }).where(eq(subscriptions.id, moving.id));
    } else if (PRECEDENCE[moving.status] > PRECEDENCE[staying.status]) {
      await tx.db.delete(subscriptions).where(eq(subscriptions.id, staying.id));
      await tx.db.update(subscriptions).set({ contactId: into.id }).where(eq(subscriptions.id, moving.id));
    } else {
      await tx.db.delete(subscriptions).where(eq(subscriptions.id, moving.id));
    }
  }
  const trail = await tx.db.select().from(consentEvents).where(eq(consentEvents.contactId, from.id));
  for (const { id: _id, ...event } of trail) await tx.db.insert(consentEvents).values({ ...event, contactId: into.id });
  await tx.db.delete(consentEvents).where(eq(consentEvents.contactId, from.id));
  await tx.db.delete(contacts).where(eq(contacts.id, from.id));
  await recordConsent(tx, {
    contactId: into.id,
    listId: null,
    action: 'identity_migrated',
    at: now,
    detail: 'merged with a contact stored under a quoted spelling of this address',
  });
}

/**
 * Data migration for rows written while quoted local parts were accepted: `"ann"@example.com`
 * was a key of its own although mail to it reached ann@example.com. Each such contact takes the
 * key of the mailbox it reached (merging with the contact already there), and each suppression
 * entry of such a spelling is re-keyed to that mailbox in the same scope (kept as it is when the
 * mailbox has one already), so the opt-out keeps working now that only the plain spelling can
 * be typed. Entries already erased keep only a hash and cannot be read back.
 */
export async function migrateQuotedAddresses(tx: Scope, secrets: readonly string[], now: number): Promise<QuotedAddressReport> {
  const { contacts, suppressions } = tx.tables;
  const report: QuotedAddressReport = { rekeyed: 0, merged: 0, suppressionsAdded: 0, leftAsIs: 0 };

  for (const quoted of await tx.db.select().from(contacts).where(quotedKeys(tx, contacts.emailKey))) {
    const mailbox = mailboxOf(quoted.email);
    if (!mailbox || mailbox.emailKey !== mailboxOf(quoted.emailKey)?.emailKey) {
      report.leftAsIs += 1;
      continue;
    }
    const [existing] = await tx.db.select().from(contacts).where(eq(contacts.emailKey, mailbox.emailKey));
    if (existing) {
      await mergeContact(tx, quoted, existing, now);
      report.merged += 1;
    } else {
      await tx.db.update(contacts).set({ email: mailbox.email, emailKey: mailbox.emailKey }).where(eq(contacts.id, quoted.id));
      await recordConsent(tx, {
        contactId: quoted.id,
        listId: null,
        action: 'identity_migrated',
        at: now,
        detail: 'stored under a quoted spelling of this address until now',
      });
      report.rekeyed += 1;
    }
  }

  for (const entry of await tx.db.select().from(suppressions).where(quotedKeys(tx, suppressions.email))) {
    const mailbox = mailboxOf(entry.email!);
    if (!mailbox) continue;
    const { created } = await suppressAddress(tx, secrets, {
      emailKey: mailbox.emailKey,
      domain: mailbox.domain,
      listId: entry.listId,
      reason: entry.reason,
      source: `${entry.source} (quoted spelling)`,
      at: entry.createdAt,
    });
    // The quoted entry goes: no one can type that spelling any more, and an erasure of the
    // mailbox must leave no entry that still names it.
    await tx.db.delete(suppressions).where(eq(suppressions.id, entry.id));
    if (created) report.suppressionsAdded += 1;
  }
  return report;
}
