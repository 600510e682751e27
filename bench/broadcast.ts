// Broadcast bench helpers: a list of confirmed subscribers written straight to the service's database.
import { loadConfig } from '../src/config.js';
import { openDatabaseFromConfig } from '../src/platform/db/database.js';

/**
 * Opens (and migrates) the database a service with `env` will use, and writes a list `slug` with
 * `count` confirmed subscribers, 5,000 per transaction. Run before the service starts.
 */
export async function seedBroadcastList(env: Record<string, string>, slug: string, count: number): Promise<void> {
  const database = await openDatabaseFromConfig(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
  try {
    const at = Date.now() - 60_000;
    const [list] = await database.transaction((tx) =>
      tx.db
        .insert(tx.tables.lists)
        .values({ slug, name: `List ${slug}`, createdAt: at })
        .returning(),
    );
    for (let start = 0; start < count; start += 5000) {
      await database.transaction(async (tx) => {
        const { contacts, subscriptions } = tx.tables;
        for (let chunk = start; chunk < Math.min(count, start + 5000); chunk += 1000) {
          const n = Math.min(1000, count - chunk);
          const written = await tx.db
            .insert(contacts)
            .values(
              Array.from({ length: n }, (_, i) => ({
                email: `${slug}-${chunk + i}@example.com`,
                emailKey: `${slug}-${chunk + i}@example.com`,
                locale: 'en',
                createdAt: at,
              })),
            )
            .returning({ id: contacts.id });
          await tx.db
            .insert(subscriptions)
            .values(
              written.map((c) => ({ contactId: c.id, listId: list!.id, status: 'confirmed' as const, createdAt: at, confirmedAt: at })),
            );
        }
      });
    }
  } finally {
    await database.close();
  }
}

/** Creates a broadcast to `slug` through the admin API and sends it; returns its id. */
export async function sendBroadcast(url: string, adminToken: string, slug: string): Promise<number> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` };
  const created = await fetch(`${url}/admin/api/broadcasts`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      list: slug,
      subject: 'Bench news',
      body: '# Bench news\n\nA paragraph of **news**, and [a link](https://example.org).',
      format: 'markdown',
    }),
  });
  if (created.status !== 201) throw new Error(`creating the broadcast: ${created.status} ${await created.text()}`);
  const { id } = (await created.json()) as { id: number };
  const sent = await fetch(`${url}/admin/api/broadcasts/${id}/send`, { method: 'POST', headers, body: '{}' });
  if (sent.status !== 200) throw new Error(`sending the broadcast: ${sent.status} ${await sent.text()}`);
  return id;
}

/** The broadcast's counts, from the admin API. */
export async function broadcastCounts(
  url: string,
  adminToken: string,
  id: number,
): Promise<{ status: string; total: number; queued: number; sent: number }> {
  const res = await fetch(`${url}/admin/api/broadcasts/${id}`, { headers: { authorization: `Bearer ${adminToken}` } });
  return (await res.json()) as { status: string; total: number; queued: number; sent: number };
}
