import { eq } from 'drizzle-orm';
import type { Scope } from '../../src/platform/db/database.js';

/** The (first) outbox row of an address, by its lower-cased canonical form. */
export async function outboxRowOf(scope: Scope, emailKey: string) {
  const { contacts, outbox, subscriptions } = scope.tables;
  const [first] = await scope.db
    .select({ row: outbox })
    .from(outbox)
    .innerJoin(subscriptions, eq(subscriptions.id, outbox.subscriptionId))
    .innerJoin(contacts, eq(contacts.id, subscriptions.contactId))
    .where(eq(contacts.emailKey, emailKey))
    .orderBy(outbox.createdAt)
    .limit(1);
  return first?.row;
}
