import { eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { consentEvents, contacts, outbox, subscriptions, suppressions } from '../db/schema.js';
import { AppError } from '../errors.js';
import { parseAddress } from './address.js';
import { recordConsent } from './consent.js';
import { entriesOfAddress, suppressAddress } from './suppression.js';

export interface ErasureOutcome {
  /** The one entry left: every list, reason `erased`, only the keyed hash. */
  suppressionId: number;
  /** Whether there was a contact (subscriptions, consent trail) to delete. */
  contactDeleted: boolean;
}

/**
 * Erases everything kept about an address, in one transaction: its consent trail, subscriptions,
 * queued mail and the contact; its suppression entries (which name the address and its lists)
 * give way to one all-lists entry holding only the keyed hash, so it can never be mailed again.
 * The consent log keeps that an erasure happened, and nothing about whom.
 */
export function eraseContact(db: Db, secrets: readonly string[], email: string, by: string, now = Date.now()): ErasureOutcome {
  const parsed = parseAddress(email);
  if (!parsed.ok) throw new AppError(400, 'invalid_email', parsed.message);
  const { emailKey, domain } = parsed.address;
  const entriesOfThisAddress = entriesOfAddress(secrets, emailKey);

  return writeTransaction(db, (tx) => {
    const contact = tx.select({ id: contacts.id }).from(contacts).where(eq(contacts.emailKey, emailKey)).get();
    const entries = tx.select({ id: suppressions.id }).from(suppressions).where(entriesOfThisAddress).all();
    if (!contact && entries.length === 0) throw new AppError(404, 'unknown_contact', 'There is no contact with this address.');

    if (contact) {
      const subscriptionIds = tx.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.contactId, contact.id)).all().map((s) => s.id);
      // Mail already handed to the queue finds no row and is dropped by the worker.
      if (subscriptionIds.length > 0) tx.delete(outbox).where(inArray(outbox.subscriptionId, subscriptionIds)).run();
      // Deleted before the contact: the foreign key's "set null" would be an UPDATE, which the log refuses.
      tx.delete(consentEvents).where(eq(consentEvents.contactId, contact.id)).run();
      tx.delete(subscriptions).where(eq(subscriptions.contactId, contact.id)).run();
      tx.delete(contacts).where(eq(contacts.id, contact.id)).run();
    }
    if (entries.length > 0) tx.delete(suppressions).where(entriesOfThisAddress).run();
    const { id } = suppressAddress(tx, secrets, { emailKey, domain, listId: null, reason: 'erased', source: by, at: now });
    tx.update(suppressions).set({ email: null, domain: null }).where(eq(suppressions.id, id)).run();
    recordConsent(tx, { contactId: null, listId: null, action: 'erased', at: now, detail: `a contact was erased by ${by}` });
    return { suppressionId: id, contactDeleted: contact !== undefined };
  });
}
