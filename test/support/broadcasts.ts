import { and, eq, isNotNull } from 'drizzle-orm';
import type { Database } from '../../src/platform/db/database.js';
import { postJson } from './http.js';
import { ADMIN_AUTH } from './service.js';

/**
 * A list with `count` confirmed subscribers, written straight to the database in one transaction
 * (thousands of HTTP signups and confirms would only test the signup again). Addresses are
 * `<prefix>-<n>@example.com`; every `frEvery`-th one reads French.
 */
export async function seedConfirmedList(
  database: Database,
  slug: string,
  count: number,
  options: { prefix?: string; frEvery?: number } = {},
) {
  const prefix = options.prefix ?? slug;
  const now = Date.now() - 60_000;
  return database.transaction(async (tx) => {
    const { contacts, lists, subscriptions } = tx.tables;
    const [list] = await tx.db
      .insert(lists)
      .values({ slug, name: `List ${slug}`, createdAt: now })
      .returning();
    const emails: string[] = [];
    for (let start = 0; start < count; start += 500) {
      const chunk = Array.from({ length: Math.min(500, count - start) }, (_, i) => start + i);
      const written = await tx.db
        .insert(contacts)
        .values(
          chunk.map((n) => ({
            email: `${prefix}-${n}@example.com`,
            emailKey: `${prefix}-${n}@example.com`,
            locale: options.frEvery && n % options.frEvery === 0 ? 'fr' : 'en',
            createdAt: now,
          })),
        )
        .returning({ id: contacts.id, email: contacts.email });
      await tx.db
        .insert(subscriptions)
        .values(
          written.map((c) => ({ contactId: c.id, listId: list!.id, status: 'confirmed' as const, createdAt: now, confirmedAt: now })),
        );
      emails.push(...written.map((c) => c.email));
    }
    return { listId: list!.id, emails };
  });
}

/** POST to the broadcasts API with the admin token; returns status and JSON body. */
export async function broadcastApi(url: string, path: string, body: unknown = {}): Promise<{ status: number; body: any }> {
  const res = await postJson(`${url}/admin/api/broadcasts${path}`, body, ADMIN_AUTH);
  return { status: res.status, body: await res.json() };
}

export async function progressOf(url: string, id: number): Promise<any> {
  const res = await fetch(`${url}/admin/api/broadcasts/${id}`, { headers: ADMIN_AUTH });
  return res.json();
}

/** Waits until no message of a paused broadcast is in a worker's hands: every row still queued has been given back. */
export async function handedRows(database: Database, broadcastId: number): Promise<number> {
  const { outbox } = database.tables;
  const rows = await database.db
    .select({ id: outbox.id })
    .from(outbox)
    .where(and(eq(outbox.broadcastId, broadcastId), eq(outbox.status, 'queued'), isNotNull(outbox.handedAt)));
  return rows.length;
}
