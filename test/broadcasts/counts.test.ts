import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcastApi, progressOf, seedConfirmedList } from '../support/broadcasts.js';
import { linkIn, oneClick, postForm, postJson, tokenOf, waitFor } from '../support/http.js';
import { ADMIN_AUTH, startTestService, type TestService } from '../support/service.js';
import type { ReceivedMail } from '../support/smtpSink.js';

/*
 * A broadcast's counts are facts at the time of sending (issue 25, item 10): an erasure later
 * changes nothing, `sent + dropped + failed + queued = total` at every moment (an erasure while
 * a recipient still waits counts as dropped), and each recipient's unsubscribe counts once.
 */

/** Addresses whose server answers 451 (try again later) at RCPT TO: their message stays queued, retried. */
const busy = new Set<string>();

let t: TestService;
beforeAll(async () => {
  t = await startTestService({
    // Retries slow and many, so a busy recipient's message waits long enough to be erased meanwhile.
    env: { BROADCAST_RATE_PER_MINUTE: '0', SEND_BACKOFF_MS: '300', SEND_ATTEMPTS: '30' },
    smtp: { onRcpt: (address) => (busy.has(address.toLowerCase()) ? { code: 451, message: '4.2.1 Mailbox busy, try later' } : undefined) },
  });
});
afterAll(async () => {
  await t?.stop();
});

const local = (link: string) => `${t.url}${new URL(link).pathname}${new URL(link).search}`;
const mailsOf = (id: number) => t.smtp.messages.filter((m) => m.parsed.messageId?.startsWith(`<bc${id}-`));
const mailTo = (id: number, email: string): ReceivedMail | undefined => mailsOf(id).find((m) => m.envelopeTo.includes(email));

interface Progress {
  status: string;
  total: number;
  queued: number;
  sent: number;
  failed: number;
  dropped: number;
  cancelled: number;
  unsubscribed: number;
}

/** The counts, checked to add up whenever they are read. */
async function counts(id: number): Promise<Progress> {
  const p = (await progressOf(t.url, id)) as Progress;
  expect(p.sent + p.dropped + p.failed + p.queued, JSON.stringify(p)).toBe(p.total);
  return p;
}

async function sent(slug: string, subject: string): Promise<number> {
  const created = await broadcastApi(t.url, '', { list: slug, subject, body: 'Hello', format: 'markdown' });
  expect(created.status).toBe(201);
  const id = created.body.id as number;
  expect((await broadcastApi(t.url, `/${id}/send`)).status).toBe(200);
  return id;
}

const erase = (email: string) =>
  fetch(`${t.url}/admin/api/contacts/${encodeURIComponent(email)}`, { method: 'DELETE', headers: ADMIN_AUTH });

describe('broadcast counts are facts at the time of sending', () => {
  it('an erasure after the broadcast changes none of its counts', async () => {
    const { emails } = await seedConfirmedList(t.service.database, 'counts-after', 3);
    const id = await sent('counts-after', 'Before the erasure');
    const done = await waitFor(async () => {
      const p = await counts(id);
      return p.status === 'sent' && p;
    }, 15_000);
    expect(done).toMatchObject({ total: 3, sent: 3, queued: 0, dropped: 0, failed: 0 });

    expect((await erase(emails[0]!)).status).toBe(204);
    expect(await counts(id)).toMatchObject({ status: 'sent', total: 3, sent: 3, queued: 0, dropped: 0, failed: 0 });
  });

  it('an erasure while a recipient still waits counts as dropped, at once; the sum holds at every moment', async () => {
    const { emails } = await seedConfirmedList(t.service.database, 'counts-mid', 6);
    const victim = emails[3]!;
    busy.add(victim);
    const id = await sent('counts-mid', 'While it sends');
    // Everyone else has it; the busy recipient's message is still queued, being retried.
    await waitFor(async () => {
      const p = await counts(id);
      return p.sent === 5 && p.queued === 1 && p;
    }, 15_000);

    expect((await erase(victim)).status).toBe(204);
    expect(await counts(id)).toMatchObject({ total: 6, sent: 5, queued: 0, dropped: 1, failed: 0 });
    busy.delete(victim);
    const done = await waitFor(async () => {
      const p = await counts(id);
      return p.status === 'sent' && p;
    }, 15_000);
    expect(done).toMatchObject({ total: 6, sent: 5, queued: 0, dropped: 1, failed: 0 });
    expect(mailTo(id, victim)).toBeUndefined();
    // A later signup of the erased address, waited for through a canary, mails nothing either.
    expect((await postJson(`${t.url}/subscribe`, { email: victim })).status).toBe(202);
    expect((await postJson(`${t.url}/subscribe`, { email: 'canary.counts@example.com' })).status).toBe(202);
    await waitFor(() => t.smtp.to('canary.counts@example.com')[0], 5000, 'the canary');
    expect(t.smtp.to(victim)).toHaveLength(0);
  });

  it('each recipient’s unsubscribe counts once, however often they click, come back and click again', async () => {
    const { emails } = await seedConfirmedList(t.service.database, 'counts-unsub', 3);
    const id = await sent('counts-unsub', 'Leave if you like');
    await waitFor(async () => (await counts(id)).status === 'sent', 15_000);
    const [looper, once, wide] = emails as [string, string, string];

    // The broadcast's own link, again and again, with a resubscribe between the clicks.
    const link = local(mailTo(id, looper)!.header('list-unsubscribe')!.slice(1, -1));
    for (let round = 0; round < 3; round += 1) {
      expect((await oneClick(link)).status).toBe(200);
      expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(link)}`, {})).status).toBe(200);
    }
    expect((await oneClick(link)).status).toBe(200);
    expect((await oneClick(link)).status).toBe(200);
    expect((await counts(id)).unsubscribed).toBe(1);

    expect((await oneClick(local(linkIn(mailTo(id, once)!, 'unsubscribe')))).status).toBe(200);
    // "Every list" from the page counts once too.
    const wideLink = local(linkIn(mailTo(id, wide)!, 'unsubscribe'));
    expect((await postForm(wideLink, { scope: 'all' })).status).toBe(200);
    expect((await postJson(`${t.url}/resubscribe?token=${tokenOf(wideLink)}`, {})).status).toBe(200);
    expect((await postForm(wideLink, { scope: 'all' })).status).toBe(200);
    const p = await counts(id);
    expect(p).toMatchObject({ total: 3, sent: 3, unsubscribed: 3 });

    // Facts at the time: erasing one who left changes neither count.
    expect((await erase(looper)).status).toBe(204);
    expect(await counts(id)).toMatchObject({ total: 3, sent: 3, unsubscribed: 3 });
  });
});
