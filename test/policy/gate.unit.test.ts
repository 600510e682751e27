import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type Database } from '../../src/platform/db/database.js';
import {
  MESSAGE_KINDS,
  SUPPRESSION_REASONS,
  type MessageKind,
  type OutboxStatus,
  type SubscriptionStatus,
  type SuppressionReason,
} from '../../src/platform/db/schema.js';
import { parseAddress } from '../../src/platform/mail/address.js';
import { smtpRecipientsOf } from '../../src/platform/mail/envelope.js';
import { migrateQuotedAddresses } from '../../src/features/policy/quotedAddresses.js';
import {
  GOODBYE_WINDOW_MS,
  mayMail,
  mayMailMany,
  type ConfirmLimits,
  type MailDecision,
  type MailRequest,
} from '../../src/features/policy/service.js';
import { addressHashes, suppressAddress } from '../../src/features/policy/suppressions.js';
import { eraseContact } from '../../src/features/subscribers/erasure.js';

/*
 * The gate (mayMail, mayMailMany): whether an address may be mailed now, for each kind of
 * message. Each test gets a fresh in-memory SQLite database opened through the project's own
 * code, with two lists; rows are written with the project's functions (suppressAddress,
 * eraseContact, migrateQuotedAddresses) or plain drizzle inserts. Every single decision is
 * asked of both mayMail and mayMailMany, which must agree.
 */

const SECRETS = ['gate-secret-current-0123456789'];
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2030, 0, 15, 12);
const ANN = 'ann@example.com';

const ALLOWED: MailDecision = { allowed: true };
const refused = (reason: string): MailDecision => ({ allowed: false, reason });

let database: Database;
/** The list every request is about, and another list of the same service. */
let listId: number;
let otherListId: number;

beforeEach(async () => {
  database = openSqliteDatabase(':memory:');
  [listId, otherListId] = (await database.transaction(async (tx) =>
    (
      await tx.db
        .insert(tx.tables.lists)
        .values([
          { slug: 'news', name: 'News', createdAt: NOW - 30 * DAY },
          { slug: 'other', name: 'Other', createdAt: NOW - 30 * DAY },
        ])
        .returning({ id: tx.tables.lists.id })
    ).map((row) => row.id),
  )) as [number, number];
});
afterEach(async () => {
  await database.close();
});

/** Asks mayMail and mayMailMany (alone) the same question; they must answer alike. */
async function gate(request: MailRequest, secrets: readonly string[] = SECRETS): Promise<MailDecision> {
  const single = await mayMail(database, secrets, request);
  const batch = await mayMailMany(database, secrets, [request]);
  expect(batch).toEqual([single]);
  return single;
}

type Scoped = 'this list' | 'every list' | 'another list';
const scopeId = (scope: Scoped): number | null => (scope === 'every list' ? null : scope === 'this list' ? listId : otherListId);

/** Puts the address on the suppression list through the project's own suppressAddress. */
async function suppress(
  emailKey: string,
  reason: SuppressionReason,
  scope: Scoped,
  options: { createdByLink?: number; at?: number; secrets?: readonly string[] } = {},
): Promise<{ id: number; created: boolean }> {
  return database.transaction((tx) =>
    suppressAddress(tx, options.secrets ?? SECRETS, {
      emailKey,
      domain: emailKey.slice(emailKey.lastIndexOf('@') + 1),
      listId: scopeId(scope),
      reason,
      source: 'unit test',
      at: options.at ?? NOW - HOUR,
      ...(options.createdByLink === undefined ? {} : { createdByLink: options.createdByLink }),
    }),
  );
}

interface NewSubscription {
  list?: number;
  status: SubscriptionStatus;
  confirmExpiresAt?: number | null;
  confirmedAt?: number | null;
  unsubscribedAt?: number | null;
}

/** A contact with one subscription per entry; returns the contact's id and the subscriptions' ids, in order. */
async function contactWith(
  emailKey: string,
  ...subscriptions: NewSubscription[]
): Promise<{ contactId: number; subscriptionIds: number[] }> {
  return database.transaction(async (tx) => {
    const { contacts, subscriptions: table } = tx.tables;
    const [contact] = await tx.db
      .insert(contacts)
      .values({ email: emailKey, emailKey, locale: 'en', createdAt: NOW - 10 * DAY })
      .returning({ id: contacts.id });
    const subscriptionIds: number[] = [];
    for (const s of subscriptions) {
      const [row] = await tx.db
        .insert(table)
        .values({
          contactId: contact!.id,
          listId: s.list ?? listId,
          status: s.status,
          createdAt: NOW - 10 * DAY,
          confirmExpiresAt: s.confirmExpiresAt ?? null,
          confirmedAt: s.confirmedAt ?? null,
          unsubscribedAt: s.unsubscribedAt ?? null,
        })
        .returning({ id: table.id });
      subscriptionIds.push(row!.id);
    }
    return { contactId: contact!.id, subscriptionIds };
  });
}

/** The status under which each kind is allowed when nothing else stands in the way. */
const MAILABLE_STATUS: Record<MessageKind, SubscriptionStatus> = {
  confirmation: 'pending',
  reminder: 'pending',
  welcome: 'confirmed',
  broadcast: 'confirmed',
  goodbye: 'unsubscribed',
  // Not about a subscription's state: the person's own request for their data link.
  erase_link: 'unsubscribed',
  export_link: 'confirmed',
};

/** A goodbye's opt-out: subscription 1 ended at OPT_OUT_AT, and the row written at that instant. */
const OPT_OUT_AT = NOW - MINUTE;

/** A request that the gate allows when the address has no suppression entry (and no budget is given). */
function request(kind: MessageKind, overrides: Partial<MailRequest> = {}): MailRequest {
  return {
    emailKey: ANN,
    listId,
    kind,
    subscriptionStatus: MAILABLE_STATUS[kind],
    confirmExpiresAt: kind === 'confirmation' || kind === 'reminder' ? NOW + DAY : null,
    ...(kind === 'goodbye' ? { goodbye: { subscriptionId: 1, unsubscribedAt: OPT_OUT_AT, requestedAt: OPT_OUT_AT } } : {}),
    ...(kind === 'erase_link' || kind === 'export_link' ? { dataLinkRequestedAt: NOW - MINUTE } : {}),
    now: NOW,
    ...overrides,
  };
}

describe('the decision table covers', () => {
  it('every message kind and every suppression reason the schema has', () => {
    // When a kind or a reason is added, the tables below must learn about it.
    expect([...MESSAGE_KINDS]).toEqual(['confirmation', 'welcome', 'goodbye', 'broadcast', 'erase_link', 'export_link', 'reminder']);
    expect([...SUPPRESSION_REASONS]).toEqual(['unsubscribed', 'bounced', 'complained', 'manual', 'erased']);
  });
});

describe('subscription state, without any suppression entry', () => {
  const TABLE: [MessageKind, SubscriptionStatus | null, MailDecision][] = [
    ['confirmation', 'pending', ALLOWED],
    ['confirmation', 'confirmed', refused('not_pending')],
    ['confirmation', 'unsubscribed', refused('not_pending')],
    ['confirmation', null, refused('not_pending')],
    // The one reminder of a request is a confirmation again: the same rules.
    ['reminder', 'pending', ALLOWED],
    ['reminder', 'confirmed', refused('not_pending')],
    ['reminder', 'unsubscribed', refused('not_pending')],
    ['reminder', null, refused('not_pending')],
    ['welcome', 'confirmed', ALLOWED],
    ['welcome', 'pending', refused('not_confirmed')],
    ['welcome', 'unsubscribed', refused('not_confirmed')],
    ['welcome', null, refused('not_confirmed')],
    ['broadcast', 'confirmed', ALLOWED],
    ['broadcast', 'pending', refused('not_confirmed')],
    ['broadcast', 'unsubscribed', refused('not_confirmed')],
    ['broadcast', null, refused('not_confirmed')],
    ['goodbye', 'unsubscribed', ALLOWED],
    ['goodbye', 'pending', refused('not_unsubscribed')],
    ['goodbye', 'confirmed', refused('not_unsubscribed')],
    ['goodbye', null, refused('not_unsubscribed')],
  ];
  it.each(TABLE)('a %s to a subscription that is %s: %o', async (kind, status, expected) => {
    expect(await gate(request(kind, { subscriptionStatus: status }))).toEqual(expected);
  });

  it('a confirmation goes only while its pending request has not lapsed', async () => {
    expect(await gate(request('confirmation', { confirmExpiresAt: NOW + 1 }))).toEqual(ALLOWED);
    expect(await gate(request('confirmation', { confirmExpiresAt: NOW }))).toEqual(refused('confirmation_expired'));
    expect(await gate(request('confirmation', { confirmExpiresAt: NOW - DAY }))).toEqual(refused('confirmation_expired'));
    expect(await gate(request('confirmation', { confirmExpiresAt: null }))).toEqual(refused('confirmation_expired'));
  });
});

describe('suppression entries', () => {
  const NOT_GOODBYE = ['confirmation', 'welcome', 'broadcast'] as const;
  const CASES = NOT_GOODBYE.flatMap((kind) =>
    SUPPRESSION_REASONS.flatMap((reason) => (['this list', 'every list'] as const).map((scope) => [kind, reason, scope] as const)),
  );

  it.each(CASES)('refuse a %s when a %s entry covers %s', async (kind, reason, scope) => {
    expect(await gate(request(kind))).toEqual(ALLOWED);
    await suppress(ANN, reason, scope);
    expect(await gate(request(kind))).toEqual(refused(`suppressed:${reason}`));
  });

  it.each(NOT_GOODBYE.flatMap((kind) => SUPPRESSION_REASONS.map((reason) => [kind, reason] as const)))(
    'leave a %s alone when the %s entry is for another list only',
    async (kind, reason) => {
      await suppress(ANN, reason, 'another list');
      expect(await gate(request(kind))).toEqual(ALLOWED);
      expect(await gate(request(kind, { listId: otherListId }))).toEqual(refused(`suppressed:${reason}`));
    },
  );

  it('block only the address they name', async () => {
    await suppress(ANN, 'bounced', 'every list');
    for (const kind of NOT_GOODBYE) expect(await gate(request(kind, { emailKey: 'bob@example.com' }))).toEqual(ALLOWED);
  });

  it('are the reason given before the subscription’s own state', async () => {
    await suppress(ANN, 'complained', 'every list');
    expect(await gate(request('confirmation', { subscriptionStatus: 'confirmed' }))).toEqual(refused('suppressed:complained'));
    expect(await gate(request('confirmation', { confirmExpiresAt: NOW - 1 }))).toEqual(refused('suppressed:complained'));
    expect(await gate(request('welcome', { subscriptionStatus: 'pending' }))).toEqual(refused('suppressed:complained'));
    expect(await gate(request('broadcast', { subscriptionStatus: null }))).toEqual(refused('suppressed:complained'));
  });

  it('refuse in both calls when an address has several entries; mayMailMany names the one that is not an opt-out', async () => {
    // An "every list" opt-out and a bounce on this list: both calls refuse. mayMailMany prefers
    // the entry that says more (the bounce); mayMail takes the first entry its LIMIT 1 query
    // finds (today the "every list" one), so the two may name different reasons here.
    await suppress(ANN, 'unsubscribed', 'every list');
    await suppress(ANN, 'bounced', 'this list');
    const req = request('broadcast');
    const [batch] = await mayMailMany(database, SECRETS, [req]);
    expect(batch).toEqual(refused('suppressed:bounced'));
    const single = await mayMail(database, SECRETS, req);
    expect(single.allowed).toBe(false);
    expect(['suppressed:unsubscribed', 'suppressed:bounced']).toContain(!single.allowed && single.reason);
  });
});

describe('the goodbye exception', () => {
  const goodbyeOf = (subscriptionId: number, overrides: Partial<MailRequest> = {}) =>
    request('goodbye', { goodbye: { subscriptionId, unsubscribedAt: OPT_OUT_AT, requestedAt: OPT_OUT_AT }, ...overrides });

  /** Ann was subscribed to the list and opted out on the page at OPT_OUT_AT: her own entry, made by her link. */
  async function optedOut(scope: 'this list' | 'every list' = 'this list'): Promise<number> {
    const {
      subscriptionIds: [subscriptionId],
    } = await contactWith(ANN, { status: 'unsubscribed', confirmedAt: NOW - 5 * DAY, unsubscribedAt: OPT_OUT_AT });
    await suppress(ANN, 'unsubscribed', scope, { createdByLink: subscriptionId!, at: OPT_OUT_AT });
    return subscriptionId!;
  }

  it('is allowed for its own opt-out, of this list or of every list, despite that opt-out’s entry', async () => {
    const subscriptionId = await optedOut('this list');
    expect(await gate(goodbyeOf(subscriptionId))).toEqual(ALLOWED);
    // The same link's "every list" opt-out, made at the same instant.
    const { created } = await suppress(ANN, 'unsubscribed', 'every list', { createdByLink: subscriptionId, at: OPT_OUT_AT });
    expect(created).toBe(true);
    expect(await gate(goodbyeOf(subscriptionId))).toEqual(ALLOWED);
  });

  it('is allowed only within GOODBYE_WINDOW_MS of the opt-out', async () => {
    const subscriptionId = await optedOut();
    expect(await gate(goodbyeOf(subscriptionId, { now: OPT_OUT_AT }))).toEqual(ALLOWED);
    expect(await gate(goodbyeOf(subscriptionId, { now: OPT_OUT_AT + GOODBYE_WINDOW_MS }))).toEqual(ALLOWED);
    expect(await gate(goodbyeOf(subscriptionId, { now: OPT_OUT_AT + GOODBYE_WINDOW_MS + 1 }))).toEqual(refused('goodbye_window_passed'));
  });

  it('is refused for a row not written by that very opt-out, or without one', async () => {
    const subscriptionId = await optedOut();
    const notOfIt = refused('goodbye_not_of_this_opt_out');
    for (const requestedAt of [OPT_OUT_AT - 1, OPT_OUT_AT + 1]) {
      expect(await gate(goodbyeOf(subscriptionId, { goodbye: { subscriptionId, unsubscribedAt: OPT_OUT_AT, requestedAt } }))).toEqual(
        notOfIt,
      );
    }
    expect(await gate(goodbyeOf(subscriptionId, { goodbye: { subscriptionId, unsubscribedAt: null, requestedAt: OPT_OUT_AT } }))).toEqual(
      notOfIt,
    );
    expect(await gate(goodbyeOf(subscriptionId, { goodbye: undefined }))).toEqual(notOfIt);
  });

  it('is refused once the subscription is no longer ended (the person is back)', async () => {
    const subscriptionId = await optedOut();
    for (const status of ['pending', 'confirmed', null] as const) {
      expect(await gate(goodbyeOf(subscriptionId, { subscriptionStatus: status }))).toEqual(refused('not_unsubscribed'));
    }
  });

  it('is refused when an opt-out entry of another subscription’s link covers the address', async () => {
    const subscriptionId = await optedOut('this list');
    // Another subscription's "every list" opt-out.
    await suppress(ANN, 'unsubscribed', 'every list', { createdByLink: subscriptionId + 100, at: OPT_OUT_AT });
    expect(await gate(goodbyeOf(subscriptionId))).toEqual(refused('suppressed:unsubscribed'));
  });

  it('is refused when its own link’s entry dates from another opt-out', async () => {
    const {
      subscriptionIds: [subscriptionId],
    } = await contactWith(ANN, { status: 'unsubscribed', unsubscribedAt: OPT_OUT_AT });
    await suppress(ANN, 'unsubscribed', 'this list', { createdByLink: subscriptionId!, at: OPT_OUT_AT - DAY });
    expect(await gate(goodbyeOf(subscriptionId!))).toEqual(refused('suppressed:unsubscribed'));
  });

  it('is refused when an opt-out without a link (no createdByLink) covers the address', async () => {
    const subscriptionId = await optedOut('this list');
    await suppress(ANN, 'unsubscribed', 'every list', { at: OPT_OUT_AT });
    expect(await gate(goodbyeOf(subscriptionId))).toEqual(refused('suppressed:unsubscribed'));
  });

  it('is refused once another opt-out lands on its own entry (which then no longer belongs to the link)', async () => {
    const subscriptionId = await optedOut('this list');
    const again = await suppress(ANN, 'unsubscribed', 'this list', { at: OPT_OUT_AT + 1 });
    expect(again.created).toBe(false);
    // The entry stands for both opt-outs now.
    expect(await gate(goodbyeOf(subscriptionId))).toEqual(refused('suppressed:unsubscribed'));
  });

  it('is refused once a block lands beside its own entry: each reason is a fact of its own', async () => {
    const subscriptionId = await optedOut('this list');
    const block = await suppress(ANN, 'manual', 'this list', { at: OPT_OUT_AT + 1 });
    expect(block.created).toBe(true);
    expect(await gate(goodbyeOf(subscriptionId))).toEqual(refused('suppressed:manual'));
  });

  it.each(SUPPRESSION_REASONS.filter((r) => r !== 'unsubscribed'))(
    'is refused when a %s entry for every list covers the address beside its own opt-out',
    async (reason) => {
      const subscriptionId = await optedOut('this list');
      expect(await gate(goodbyeOf(subscriptionId))).toEqual(ALLOWED);
      await suppress(ANN, reason, 'every list', { at: OPT_OUT_AT + 1 });
      expect(await gate(goodbyeOf(subscriptionId))).toEqual(refused(`suppressed:${reason}`));
    },
  );

  it.each(SUPPRESSION_REASONS)('is refused when a %s entry made by anyone else covers this list or every list', async (reason) => {
    for (const scope of ['this list', 'every list'] as const) {
      await database.transaction((tx) => tx.db.delete(tx.tables.suppressions));
      await suppress(ANN, reason, scope);
      expect(await gate(goodbyeOf(1)), scope).toEqual(refused(`suppressed:${reason}`));
    }
  });

  it.each(SUPPRESSION_REASONS)('is not stopped by a %s entry of another list', async (reason) => {
    const subscriptionId = await optedOut('this list');
    await suppress(ANN, reason, 'another list');
    expect(await gate(goodbyeOf(subscriptionId))).toEqual(ALLOWED);
  });

  it('recognises its own entry, and another’s, written under a secret since retired but still configured', async () => {
    const retired = 'gate-secret-retired-0123456789';
    const rotated = [SECRETS[0]!, retired];
    const {
      subscriptionIds: [subscriptionId],
    } = await contactWith(ANN, { status: 'unsubscribed', unsubscribedAt: OPT_OUT_AT });
    await suppress(ANN, 'unsubscribed', 'this list', { createdByLink: subscriptionId!, at: OPT_OUT_AT, secrets: [retired] });
    expect(await gate(goodbyeOf(subscriptionId!), rotated)).toEqual(ALLOWED);
    await suppress(ANN, 'complained', 'every list', { secrets: [retired] });
    expect(await gate(goodbyeOf(subscriptionId!), rotated)).toEqual(refused('suppressed:complained'));
  });
});

describe('a link to erase or download one’s data', () => {
  const DATA_LINKS = ['erase_link', 'export_link'] as const;

  it.each(DATA_LINKS)('a %s reaches the person’s own opt-outs, of one list or every list', async (kind) => {
    await suppress(ANN, 'unsubscribed', 'every list');
    await suppress(ANN, 'unsubscribed', 'this list');
    expect(await gate(request(kind))).toEqual(ALLOWED);
  });

  it.each(DATA_LINKS.flatMap((kind) => (['bounced', 'complained', 'manual', 'erased'] as const).map((reason) => [kind, reason] as const)))(
    'a %s never reaches an address with a %s entry, of any scope',
    async (kind, reason) => {
      await suppress(ANN, reason, 'another list');
      expect(await gate(request(kind))).toEqual(refused(`suppressed:${reason}`));
    },
  );

  it.each(DATA_LINKS)('a %s goes only within 30 minutes of the request, and never unrequested', async (kind) => {
    expect(await gate(request(kind, { dataLinkRequestedAt: NOW - 30 * MINUTE }))).toEqual(ALLOWED);
    expect(await gate(request(kind, { dataLinkRequestedAt: NOW - 30 * MINUTE - 1 }))).toEqual(refused('data_link_lapsed'));
    expect(await gate(request(kind, { dataLinkRequestedAt: undefined }))).toEqual(refused('data_link_not_requested'));
  });
});

describe('an erased contact', () => {
  it.each(MESSAGE_KINDS)('without an address any more, is never sent a %s', async (kind) => {
    expect(await gate(request(kind, { emailKey: null }))).toEqual(refused('erased'));
  });

  it('keeps only a keyed hash on the suppression list, which refuses every kind of mail to that address', async () => {
    const {
      subscriptionIds: [subscriptionId],
    } = await contactWith(ANN, { status: 'confirmed', confirmedAt: NOW - DAY }, { list: otherListId, status: 'unsubscribed' });
    await suppress(ANN, 'unsubscribed', 'another list');
    await suppress(ANN, 'bounced', 'this list');
    const outcome = await eraseContact(database, SECRETS, 'Ann@Example.com', 'unit test', NOW - HOUR);
    expect(outcome.contactDeleted).toBe(true);

    const { contacts, suppressions } = database.tables;
    expect(await database.db.select().from(contacts)).toEqual([]);
    const entries = await database.db.select().from(suppressions);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      listId: null,
      reason: 'erased',
      email: null,
      domain: null,
      emailHash: addressHashes(SECRETS, ANN)[0],
    });
    expect(JSON.stringify(entries)).not.toContain('example.com');

    // Signing up again (any spelling), or a row queued before: refused on the hash alone.
    for (const spelling of ['ann@example.com', 'ANN@EXAMPLE.COM']) {
      const parsed = parseAddress(spelling);
      expect(parsed.ok).toBe(true);
      const emailKey = parsed.ok ? parsed.address.emailKey : '';
      for (const kind of MESSAGE_KINDS) {
        const goodbye = { subscriptionId: subscriptionId!, unsubscribedAt: OPT_OUT_AT, requestedAt: OPT_OUT_AT };
        expect(await gate(request(kind, { emailKey, goodbye })), `${kind} to ${spelling}`).toEqual(refused('suppressed:erased'));
        expect(await gate(request(kind, { emailKey, listId: otherListId, goodbye }))).toEqual(refused('suppressed:erased'));
      }
    }
    expect(await gate(request('broadcast', { emailKey: 'bob@example.com' }))).toEqual(ALLOWED);
  });
});

describe('one mailbox under other spellings', () => {
  /** The key the project gives what a person typed (every identity goes through parseAddress). */
  const keyOf = (typed: string): string => {
    const parsed = parseAddress(typed);
    if (!parsed.ok) throw new Error(`${typed}: ${parsed.message}`);
    return parsed.address.emailKey;
  };

  it.each([
    ['upper-case domain', 'Kim.Lee@EXAMPLE.COM'],
    ['upper-case local part', 'KIM.LEE@example.com'],
    ['surrounding spaces', '  kim.lee@example.com '],
    ['full-width domain', 'kim.lee@ｅｘａｍｐｌｅ.com'],
  ])('is still refused when spelled with an %s', async (_what, spelling) => {
    await suppress(keyOf('kim.lee@example.com'), 'manual', 'every list');
    for (const kind of ['confirmation', 'welcome', 'broadcast'] as const) {
      expect(await gate(request(kind, { emailKey: keyOf(spelling) }))).toEqual(refused('suppressed:manual'));
    }
  });

  it.each([
    ['Unicode', 'jo@Bücher.de', 'JO@XN--BCHER-KVA.DE'],
    ['punycode', 'jo@xn--bcher-kva.de', 'jo@BÜCHER.DE'],
  ])('with an internationalised domain suppressed in %s form, is refused in the other', async (_form, suppressed, asked) => {
    expect(keyOf(suppressed)).toBe('jo@xn--bcher-kva.de');
    await suppress(keyOf(suppressed), 'unsubscribed', 'this list');
    expect(await gate(request('broadcast', { emailKey: keyOf(asked) }))).toEqual(refused('suppressed:unsubscribed'));
  });

  it('cannot be reached through a quoted local part: it is not an identity, and the mailbox it reaches is refused', async () => {
    await suppress(keyOf('ann@example.com'), 'complained', 'every list');
    for (const quoted of ['"ann"@example.com', '" ann"@example.com', '"Ann"@Example.com']) {
      expect(parseAddress(quoted).ok).toBe(false);
      // Mail to that spelling would reach this mailbox, whose key the entry covers.
      const [mailbox] = smtpRecipientsOf(quoted);
      expect(await gate(request('broadcast', { emailKey: keyOf(mailbox!) }))).toEqual(refused('suppressed:complained'));
    }
  });

  it('with an entry stored under a quoted key (before such keys were refused), is refused once migrateQuotedAddresses has run', async () => {
    await suppress('"ann"@example.com', 'bounced', 'this list');
    // The legacy entry names another key: the gate, which compares keys exactly, does not see it yet.
    expect(await gate(request('broadcast'))).toEqual(ALLOWED);
    const report = await database.transaction((tx) => migrateQuotedAddresses(tx, SECRETS, NOW));
    expect(report.suppressionsAdded).toBe(1);
    expect(await gate(request('broadcast'))).toEqual(refused('suppressed:bounced'));
    expect(await gate(request('broadcast', { listId: otherListId }))).toEqual(ALLOWED);
  });

  it('does not stretch to other mailboxes', async () => {
    await suppress(keyOf('kim.lee@example.com'), 'bounced', 'every list');
    for (const other of [
      'kimlee@example.com',
      'kim.lee+news@example.com',
      'kim.lee@example.org',
      'kim.lee@mail.example.com',
      'kim@example.com',
    ]) {
      expect(await gate(request('broadcast', { emailKey: keyOf(other) })), other).toEqual(ALLOWED);
    }
  });
});

describe('confirmation limits (list bombing)', () => {
  const LIMITS: ConfirmLimits = { cooldownMs: 10 * MINUTE, max: 3 };
  let contactId: number;
  let subscriptionId: number;
  let otherSubscriptionId: number;

  beforeEach(async () => {
    ({
      contactId,
      subscriptionIds: [subscriptionId, otherSubscriptionId],
    } = (await contactWith(
      ANN,
      { status: 'pending', confirmExpiresAt: NOW + DAY },
      { list: otherListId, status: 'pending', confirmExpiresAt: NOW + DAY },
    )) as { contactId: number; subscriptionIds: [number, number] });
  });

  /** A confirmation row in the outbox. */
  async function confirmationRow(
    id: string,
    status: OutboxStatus,
    createdAt: number,
    options: { sentAt?: number | null; subscription?: number; kind?: MessageKind } = {},
  ): Promise<void> {
    await database.transaction((tx) =>
      tx.db.insert(tx.tables.outbox).values({
        id,
        kind: options.kind ?? 'confirmation',
        subscriptionId: options.subscription ?? subscriptionId,
        status,
        createdAt,
        sentAt: options.sentAt === undefined ? (status === 'sent' ? createdAt : null) : options.sentAt,
      }),
    );
  }

  /** A confirmation asked for at `requestedAt` (the signup: no outbox row yet, unless `outboxId`). */
  const confirmation = (
    options: { limits?: ConfirmLimits; outboxId?: string | null; requestedAt?: number; contact?: number | null } = {},
  ) =>
    request('confirmation', {
      confirmBudget: {
        contactId: options.contact === undefined ? contactId : options.contact,
        outboxId: options.outboxId ?? null,
        requestedAt: options.requestedAt ?? NOW,
        limits: options.limits ?? LIMITS,
      },
    });

  it('allow the first confirmation', async () => {
    expect(await gate(confirmation())).toEqual(ALLOWED);
  });

  it('hold a confirmation back within the cooldown after the last one was mailed', async () => {
    const limits = { cooldownMs: 10 * MINUTE, max: 0 };
    await confirmationRow('a', 'sent', NOW - HOUR, { sentAt: NOW - 10 * MINUTE + 1 });
    expect(await gate(confirmation({ limits }))).toEqual(refused('confirm_cooldown'));
  });

  it('let one go once the cooldown has passed (measured from when it was sent, else when it was written)', async () => {
    const limits = { cooldownMs: 10 * MINUTE, max: 0 };
    await confirmationRow('a', 'sent', NOW - HOUR, { sentAt: NOW - 10 * MINUTE });
    expect(await gate(confirmation({ limits }))).toEqual(ALLOWED);
    await confirmationRow('b', 'sent', NOW - MINUTE, { sentAt: null });
    expect(await gate(confirmation({ limits }))).toEqual(refused('confirm_cooldown'));
  });

  it('count a row still queued and asked for earlier as mailed now, however old', async () => {
    await confirmationRow('a', 'queued', NOW - 2 * DAY);
    expect(await gate(confirmation())).toEqual(refused('confirm_cooldown'));
  });

  it('do not count a queued row asked for after this one', async () => {
    await confirmationRow('later', 'queued', NOW + 1);
    expect(await gate(confirmation())).toEqual(ALLOWED);
  });

  it('break a tie between rows asked for at the same instant by outbox id, so only one of two passes', async () => {
    await confirmationRow('row-a', 'queued', NOW);
    await confirmationRow('row-b', 'queued', NOW);
    expect(await gate(confirmation({ outboxId: 'row-a' }))).toEqual(ALLOWED);
    expect(await gate(confirmation({ outboxId: 'row-b' }))).toEqual(refused('confirm_cooldown'));
    // At signup (no row yet) a row of the same instant is not counted; the worker checks again.
    expect(await gate(confirmation({ outboxId: null }))).toEqual(ALLOWED);
  });

  it('never count the row being sent against itself', async () => {
    await confirmationRow('self', 'queued', NOW - MINUTE);
    expect(await gate(confirmation({ outboxId: 'self', requestedAt: NOW - MINUTE }))).toEqual(ALLOWED);
  });

  it('ignore rows dropped or failed, and mails of other kinds', async () => {
    await confirmationRow('dropped', 'dropped', NOW - MINUTE);
    await confirmationRow('failed', 'failed', NOW - MINUTE);
    await confirmationRow('welcome', 'sent', NOW - MINUTE, { kind: 'welcome' });
    await confirmationRow('broadcast', 'queued', NOW - MINUTE, { kind: 'broadcast' });
    expect(await gate(confirmation())).toEqual(ALLOWED);
  });

  it('count the address’s confirmations whatever the list, and no other address’s', async () => {
    await confirmationRow('other-list', 'sent', NOW - MINUTE, { subscription: otherSubscriptionId });
    expect(await gate(confirmation())).toEqual(refused('confirm_cooldown'));
    const {
      contactId: bobId,
      subscriptionIds: [bobSubscription],
    } = await contactWith('bob@example.com', { status: 'pending', confirmExpiresAt: NOW + DAY });
    expect(await gate({ ...confirmation({ contact: bobId }), emailKey: 'bob@example.com' })).toEqual(ALLOWED);
    await confirmationRow('bob', 'sent', NOW - MINUTE, { subscription: bobSubscription });
    expect(await gate({ ...confirmation({ contact: bobId }), emailKey: 'bob@example.com' })).toEqual(refused('confirm_cooldown'));
  });

  it('cap confirmations at `max` a day', async () => {
    await confirmationRow('a', 'sent', NOW - 3 * HOUR);
    await confirmationRow('b', 'sent', NOW - 2 * HOUR);
    expect(await gate(confirmation())).toEqual(ALLOWED);
    await confirmationRow('c', 'sent', NOW - HOUR, { subscription: otherSubscriptionId });
    expect(await gate(confirmation())).toEqual(refused('confirm_daily_limit'));
  });

  it('stop after `max` unanswered confirmations, even spread over days, until one is confirmed', async () => {
    await confirmationRow('a', 'sent', NOW - 4 * DAY);
    await confirmationRow('b', 'sent', NOW - 3 * DAY);
    await confirmationRow('c', 'sent', NOW - DAY);
    // Exactly a day ago is outside the daily window.
    expect(await gate(confirmation())).toEqual(refused('confirm_unanswered'));
    await database.transaction((tx) =>
      tx.db
        .update(tx.tables.subscriptions)
        .set({ status: 'confirmed', confirmedAt: NOW - 2 * DAY })
        .where(eq(tx.tables.subscriptions.id, otherSubscriptionId)),
    );
    // Confirmed after the first two: only one is unanswered now.
    expect(await gate(confirmation())).toEqual(ALLOWED);
  });

  it('are off with zero limits, without a contact yet, or when the caller gives no budget', async () => {
    await confirmationRow('a', 'sent', NOW - MINUTE);
    await confirmationRow('b', 'queued', NOW - MINUTE);
    await confirmationRow('c', 'sent', NOW - 2 * MINUTE);
    expect(await gate(confirmation())).toEqual(refused('confirm_cooldown'));
    expect(await gate(confirmation({ limits: { cooldownMs: 0, max: 0 } }))).toEqual(ALLOWED);
    expect(await gate(confirmation({ contact: null }))).toEqual(ALLOWED);
    expect(await gate(request('confirmation'))).toEqual(ALLOWED);
  });

  it('apply to confirmations only, and only once everything else allows the mail', async () => {
    await confirmationRow('a', 'sent', NOW - MINUTE);
    const budget = confirmation().confirmBudget;
    expect(await gate(request('welcome', { confirmBudget: budget }))).toEqual(ALLOWED);
    expect(await gate(request('broadcast', { confirmBudget: budget }))).toEqual(ALLOWED);
    expect(await gate(request('confirmation', { confirmBudget: budget, subscriptionStatus: 'confirmed' }))).toEqual(refused('not_pending'));
    expect(await gate(request('confirmation', { confirmBudget: budget, confirmExpiresAt: NOW }))).toEqual(refused('confirmation_expired'));
    await suppress(ANN, 'bounced', 'every list');
    expect(await gate(confirmation())).toEqual(refused('suppressed:bounced'));
  });
});

describe('mayMailMany', () => {
  it('agrees with mayMail on a mixed batch of both lists, in the requests’ order', async () => {
    const {
      contactId,
      subscriptionIds: [annPending, annGone],
    } = await contactWith(
      ANN,
      { status: 'pending', confirmExpiresAt: NOW + DAY },
      { list: otherListId, status: 'unsubscribed', unsubscribedAt: OPT_OUT_AT },
    );
    await suppress(ANN, 'unsubscribed', 'another list', { createdByLink: annGone!, at: OPT_OUT_AT });
    await suppress('bounced@example.com', 'bounced', 'every list');
    await suppress('listonly@example.com', 'manual', 'this list');
    await suppress('other@example.com', 'complained', 'another list');
    await suppress('erased@example.com', 'erased', 'every list');
    await database.transaction((tx) =>
      tx.db.insert(tx.tables.outbox).values({
        id: 'sent',
        kind: 'confirmation',
        subscriptionId: annPending!,
        status: 'sent',
        createdAt: NOW - MINUTE,
        sentAt: NOW - MINUTE,
      }),
    );

    const budget = { contactId, outboxId: null, requestedAt: NOW, limits: { cooldownMs: 10 * MINUTE, max: 3 } };
    const addresses = [
      ANN,
      'bounced@example.com',
      'listonly@example.com',
      'other@example.com',
      'erased@example.com',
      'free@example.com',
      null,
    ];
    const statuses = ['pending', 'confirmed', 'unsubscribed', null] as const;
    const requests: MailRequest[] = [];
    for (const list of [listId, otherListId]) {
      for (const emailKey of addresses) {
        for (const kind of MESSAGE_KINDS) {
          for (const status of statuses) {
            requests.push(
              request(kind, {
                emailKey,
                listId: list,
                subscriptionStatus: status,
                goodbye: { subscriptionId: annGone!, unsubscribedAt: OPT_OUT_AT, requestedAt: OPT_OUT_AT },
              }),
            );
          }
        }
        requests.push(request('confirmation', { emailKey, listId: list, confirmBudget: budget }));
        requests.push(request('confirmation', { emailKey, listId: list, confirmExpiresAt: NOW - 1 }));
      }
    }
    // The same address twice in one batch.
    requests.push(request('broadcast', { emailKey: 'bounced@example.com' }), request('broadcast', { emailKey: 'bounced@example.com' }));

    const batch = await mayMailMany(database, SECRETS, requests);
    const one = [];
    for (const r of requests) one.push(await mayMail(database, SECRETS, r));
    expect(batch).toEqual(one);

    // The table is not trivial: every kind of answer is in it.
    const reasons = new Set(batch.map((d) => (d.allowed ? 'allowed' : d.reason)));
    expect([...reasons].sort()).toEqual(
      [
        'allowed',
        'confirm_cooldown',
        'confirmation_expired',
        'erased',
        'not_confirmed',
        'not_pending',
        'not_unsubscribed',
        'suppressed:bounced',
        'suppressed:complained',
        'suppressed:erased',
        'suppressed:manual',
        'suppressed:unsubscribed',
      ].sort(),
    );
    // Ann's goodbye for her own opt-out of the other list goes, despite that opt-out's entry.
    const annGoodbyeOther = requests.findIndex(
      (r) => r.emailKey === ANN && r.listId === otherListId && r.kind === 'goodbye' && r.subscriptionStatus === 'unsubscribed',
    );
    expect(batch[annGoodbyeOther]).toEqual(ALLOWED);
  });

  it('answers an empty batch with no decisions', async () => {
    expect(await mayMailMany(database, SECRETS, [])).toEqual([]);
  });
});
