import { eq } from 'drizzle-orm';
import type { Db } from '../../src/db/client.js';
import { contacts, outbox, subscriptions } from '../../src/db/schema.js';

/** The (first) outbox row of an address, by its lower-cased canonical form. */
export function outboxRowOf(db: Db, emailKey: string) {
  return db
    .select({ row: outbox })
    .from(outbox)
    .innerJoin(subscriptions, eq(subscriptions.id, outbox.subscriptionId))
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .where(eq(contacts.emailKey, emailKey))
    .get()?.row;
}
