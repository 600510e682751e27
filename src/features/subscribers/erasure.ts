import { eq, inArray } from 'drizzle-orm';
import { forUpdate, type Database } from '../../platform/db/database.js';
import { lockAddresses } from '../signup/index.js';
import { AppError } from '../../errors.js';
import { parseAddress } from '../../platform/mail/address.js';
import { recordChanges } from '../changes/index.js';
import { recordConsent } from '../policy/index.js';
import { keepReasonsAnonymously } from '../optout/index.js';
import { keepRecipientFacts } from '../broadcasts/index.js';
import { entriesOfAddress, suppressAddress } from '../policy/index.js';

export interface ErasureOutcome {
  /** The one entry left: every list, reason `erased`, only the keyed hash. */
  suppressionId: number;
  /** Whether there was a contact (subscriptions, consent trail) to delete. */
  contactDeleted: boolean;
}

/**
 * Erases everything kept about an address, in one transaction: its consent trail, subscriptions,
 * queued mail, mail history and the contact (a broadcast's rows stay, holding nothing about the person: its
 * counts are facts of the time of sending); its suppression entries (which name the address and its lists)
 * give way to one all-lists entry holding only the keyed hash, so it can never be mailed again.
 * The consent log keeps that an erasure happened, and nothing about whom.
 */
export async function eraseContact(
  database: Database,
  secrets: readonly string[],
  email: string,
  by: string,
  now = Date.now(),
): Promise<ErasureOutcome> {
  const parsed = parseAddress(email);
  if (!parsed.ok) throw new AppError(400, 'invalid_email', parsed.message);
  const { emailKey, domain } = parsed.address;

  return database.transaction(async (tx) => {
    const { consentEvents, contacts, mailHistory, outbox, subscriptions, suppressions } = tx.tables;
    const entriesOfThisAddress = entriesOfAddress(tx.tables, secrets, emailKey);
    // Many processes: the address lock, then the contact's row lock (PostgreSQL), in the order
    // signup, confirm and opt-out take them, hold those off until the erasure commits: no
    // subscription is added to a contact being deleted, and no two of them wait on each other.
    // On SQLite this transaction is already the only writer.
    await lockAddresses(tx, [emailKey]);
    const [contact] = await forUpdate(tx, tx.db.select({ id: contacts.id }).from(contacts).where(eq(contacts.emailKey, emailKey)));
    const entries = await tx.db.select({ id: suppressions.id }).from(suppressions).where(entriesOfThisAddress);
    if (!contact && entries.length === 0) throw new AppError(404, 'unknown_contact', 'There is no contact with this address.');

    if (contact) {
      const theirs = await tx.db.select().from(subscriptions).where(eq(subscriptions.contactId, contact.id));
      const subscriptionIds = theirs.map((s) => s.id);
      // A broadcast's counts are facts of its sending: its rows of this person stay, anonymous
      // (one still waiting counts as dropped). Their other mail goes: mail already handed to the
      // queue finds no row and is dropped by the worker.
      await keepRecipientFacts(tx, theirs, now);
      if (subscriptionIds.length > 0) await tx.db.delete(outbox).where(inArray(outbox.subscriptionId, subscriptionIds));
      // So does the history of their mail pruned from the outbox (a broadcast keeps only its counts of it).
      if (subscriptionIds.length > 0) await tx.db.delete(mailHistory).where(inArray(mailHistory.subscriptionId, subscriptionIds));
      // Why they left still counts, as an answer of nobody (reasons.ts).
      await keepReasonsAnonymously(tx, contact.id);
      // Deleted before the contact: the foreign key's "set null" would be an UPDATE, which the log refuses.
      await tx.db.delete(consentEvents).where(eq(consentEvents.contactId, contact.id));
      await tx.db.delete(subscriptions).where(eq(subscriptions.contactId, contact.id));
      await tx.db.delete(contacts).where(eq(contacts.id, contact.id));
    }
    if (entries.length > 0) await tx.db.delete(suppressions).where(entriesOfThisAddress);
    const { id } = await suppressAddress(tx, secrets, { emailKey, domain, listId: null, reason: 'erased', source: by, at: now });
    await tx.db.update(suppressions).set({ email: null, domain: null }).where(eq(suppressions.id, id));
    await recordConsent(tx, { contactId: null, listId: null, action: 'erased', at: now, detail: `a contact was erased by ${by}` });
    await recordChanges(tx, [{ type: 'contact.erased', email: emailKey, at: now }]);
    return { suppressionId: id, contactDeleted: contact !== undefined };
  });
}
