import { randomUUID } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { eq, inArray } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary } from '../support/canary.js';
import { linkIn, oneClick, postJson, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, TEST_SECRET, type TestService } from '../support/service.js';
import { findSuppression } from '../../src/features/policy/suppressions.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const subscribe = (email: string) => postJson(`${t.url}/subscribe`, { email });
const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${t.url}/admin/api${path}`, { ...init, headers: { ...ADMIN_AUTH, ...(init.headers as Record<string, string> | undefined) } });

/** Spellings that nodemailer unquotes, unescapes or trims into `<local>@example.com` when it builds RCPT TO. */
const quotedSpellingsOf = (local: string) => [
  `"${local}"@example.com`,
  `" ${local}"@example.com`,
  `"${local} "@example.com`,
  `"${local.slice(0, 1)}\\${local.slice(1)}"@example.com`,
];

function withAsciiDomain(address: string): string {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, at)}@${domainToASCII(address.slice(at + 1))}`;
}

async function expectInvalidEmail(res: Response): Promise<void> {
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual({ error: { code: 'invalid_email', message: expect.any(String) } });
}

describe('one mailbox, one identity', () => {
  it('refuses quoted spellings of an opted-out mailbox with 400 invalid_email, and nothing more reaches it', async () => {
    expect((await subscribe('ann@example.com')).status).toBe(202);
    const confirmation = await waitFor(() => t.smtp.to('ann@example.com')[0], 5000, 'confirmation');
    // "This was not me": the pending request's unsubscribe link suppresses the mailbox for every list.
    const notMe = linkIn(confirmation, 'unsubscribe');
    expect((await oneClick(`${t.url}${new URL(notMe).pathname}${new URL(notMe).search}`)).status).toBe(200);
    const database = t.service.database;
    const {
      db,
      tables: { contacts },
    } = database;
    expect(await findSuppression(database, [TEST_SECRET], 'ann@example.com', null)).toBeDefined();

    const contactsBefore = (await db.select().from(contacts)).length;
    for (const spelling of quotedSpellingsOf('ann')) await expectInvalidEmail(await subscribe(spelling));
    // Counted before the canary adds its own contact: a signup stores its contact before it answers.
    expect(await db.select().from(contacts)).toHaveLength(contactsBefore);
    // Its message stays: a test below matches every sent outbox row to its message.
    await canary(t, { keepMessage: true });
    expect(t.smtp.to('ann@example.com')).toHaveLength(1);
  });

  it('refuses a quoted local part on every path that turns a stranger’s string into an identity', async () => {
    const quoted = '"bea"@example.com';
    await expectInvalidEmail(await subscribe(quoted));
    await expectInvalidEmail(await postJson(`${t.url}/admin/api/suppressions`, { email: quoted }, ADMIN_AUTH));
    await expectInvalidEmail(await admin(`/contacts/${encodeURIComponent(quoted)}`));
    await expectInvalidEmail(await admin(`/contacts/${encodeURIComponent(quoted)}`, { method: 'DELETE' }));
    const form = new FormData();
    form.append('file', new Blob([`email\r\n"""bea""@example.com"\r\nbea.plain@example.com\r\n`], { type: 'text/csv' }), 'list.csv');
    const imported = await fetch(`${t.url}/admin/api/suppressions/import`, { method: 'POST', body: form, headers: ADMIN_AUTH });
    expect(await imported.json()).toMatchObject({ added: 1, invalid: 1 });
    const {
      db,
      tables: { suppressions },
    } = t.service.database;
    expect(
      await db
        .select()
        .from(suppressions)
        .where(inArray(suppressions.email, [quoted, 'bea@example.com'])),
    ).toEqual([]);
  });

  it('sends every accepted address to exactly the key the mail policy decided on (RCPT TO at a real SMTP server)', async () => {
    // Characters that matter to an addr-spec: atext specials, quotes, escapes, spaces, dots, brackets, case.
    const localChar = fc.constantFrom(...'aZ9.!#$%&\'*+-/=?^_`{|}~" \\@()<>,;:[]é'.split(''));
    const domain = fc.constantFrom('example.com', 'Example.COM', 'bücher.de', 'example.com.', 'xn--bcher-kva.de');
    const generated = fc.sample(
      fc.tuple(fc.string({ unit: localChar, minLength: 1, maxLength: 10 }), domain).map(([local, d]) => `${local}@${d}`),
      { numRuns: 60, seed: 20251126 },
    );
    const table = [
      ...quotedSpellingsOf('cat'),
      '"c\\"at"@example.com',
      '"c at"@example.com',
      '"c@t"@example.com',
      "O'Neil.Cat@Example.com",
      'cat+tag@example.com',
      'c{a}t|x~y`z@example.com',
      'cat!#$%&*=?^_@example.com',
      'Cat@Bücher.de',
    ];
    const inputs = [...new Set([...table, ...generated])];

    const accepted: string[] = [];
    for (const input of inputs) {
      const res = await subscribe(input);
      expect([202, 400], input).toContain(res.status);
      if (res.status === 202) accepted.push(input);
      else expect(await res.json(), input).toEqual({ error: { code: 'invalid_email', message: expect.any(String) } });
    }
    expect(accepted.length).toBeGreaterThan(10);

    const {
      db,
      tables: { contacts, outbox, subscriptions },
    } = t.service.database;
    const rowsOf = () =>
      db
        .select({ id: outbox.id, status: outbox.status, email: contacts.email, emailKey: contacts.emailKey })
        .from(outbox)
        .innerJoin(subscriptions, eq(subscriptions.id, outbox.subscriptionId))
        .innerJoin(contacts, eq(contacts.id, subscriptions.contactId));
    await waitFor(async () => (await rowsOf()).every((row) => row.status !== 'queued'), 20_000, 'every confirmation to be sent');
    for (const row of (await rowsOf()).filter((r) => r.status === 'sent')) {
      const received = t.smtp.messages.filter((m) => m.header('message-id')?.startsWith(`<${row.id}@`));
      expect(received, row.emailKey).toHaveLength(1);
      // The SMTP server saw exactly the stored address, and it is the key every decision was made on.
      // (smtp-server reports an IDN domain in Unicode; the wire carried its punycode form.)
      expect(received[0]!.envelopeTo.map(withAsciiDomain), row.emailKey).toEqual([row.email]);
      expect(row.email.toLowerCase()).toBe(row.emailKey);
    }
  });

  it('drops, and never sends, a stored message whose address SMTP would receive as another mailbox', async () => {
    // A row written before quoted local parts were refused (or by anything that bypassed the parse).
    const now = Date.now();
    const id = randomUUID();
    await t.service.database.transaction(async ({ db, tables: { contacts, outbox, subscriptions } }) => {
      const [contact] = await db
        .insert(contacts)
        .values({ email: '"dan"@example.com', emailKey: '"dan"@example.com', locale: 'en', createdAt: now })
        .returning();
      const [subscription] = await db
        .insert(subscriptions)
        .values({ contactId: contact!.id, listId: 1, status: 'pending', createdAt: now, confirmExpiresAt: now + 3_600_000 })
        .returning();
      await db.insert(outbox).values({ id, kind: 'confirmation', subscriptionId: subscription!.id, status: 'queued', createdAt: now });
    });
    await t.service.relay.sweep({ everything: true });
    const {
      db,
      tables: { outbox },
    } = t.service.database;
    const row = await waitFor(
      async () => {
        const [current] = await db.select().from(outbox).where(eq(outbox.id, id));
        return current?.status !== 'queued' && current;
      },
      5000,
      'the row to be dealt with',
    );
    expect(row).toMatchObject({ status: 'dropped', lastError: 'recipient_mismatch' });
    expect(t.smtp.to('dan@example.com')).toEqual([]);
    expect(t.smtp.messages.filter((m) => m.header('message-id')?.startsWith(`<${id}@`))).toEqual([]);
  });
});
