import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postForm, postJson, waitFor } from '../support/http.js';
import { startMailDns, type MailDns } from '../support/mailDns.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * The checks at the door (issue 23): a throwaway inbox, a likely typo of a big provider, a
 * domain that cannot receive mail. A refusal stores nothing and sends nothing; the opposite case
 * (a real provider, a real domain) goes through.
 */
let t: TestService;
let dns: MailDns;
beforeAll(async () => {
  dns = await startMailDns({
    'good.test': { mx: [{ exchange: 'mx.good.test', priority: 10 }] },
    'nullmx.test': { mx: [{ exchange: '', priority: 0 }] },
    'aonly.test': { a: ['192.0.2.10'] },
    'nothing.test': {},
    'silent.test': { silent: true },
    'gmail.com': { mx: [{ exchange: 'gmail-smtp-in.l.google.com', priority: 5 }] },
    'hotmail.fr': { mx: [{ exchange: 'mx.hotmail.fr', priority: 5 }] },
  });
  t = await startTestService({ env: { CHECK_MX: 'true', DNS_SERVERS: dns.server } });
});
afterAll(async () => {
  await t?.stop();
  await dns?.close();
});

async function stored(email: string): Promise<boolean> {
  const { db, tables } = t.service.database;
  return (await db.select().from(tables.contacts).where(eq(tables.contacts.emailKey, email))).length > 0;
}

/** A later signup's confirmation: once it arrives, nothing written before it is still to be sent. */
async function canary(): Promise<void> {
  const email = `canary.${Math.random().toString(36).slice(2)}@good.test`;
  expect((await postJson(`${t.url}/subscribe`, { email })).status).toBe(202);
  await waitFor(() => t.smtp.to(email)[0], 5000, 'canary');
}

async function refusal(res: Response): Promise<Record<string, unknown>> {
  expect(res.status).toBe(400);
  return ((await res.json()) as { error: Record<string, unknown> }).error;
}

describe('a likely typo', () => {
  it('answers 400 address_typo with the suggestion, stores and sends nothing; acceptTypo keeps what was typed', async () => {
    const error = await refusal(await postJson(`${t.url}/subscribe`, { email: 'ann@gmail.con' }));
    expect(error).toEqual({ code: 'address_typo', message: expect.stringContaining('ann@gmail.com'), suggestion: 'ann@gmail.com' });
    expect(await stored('ann@gmail.con')).toBe(false);

    // Kept on purpose: the typo check is skipped, and only it (gmail.con has no mail server, but CHECK_MX asks DNS,
    // which here does not know the name: the DNS check still refuses it).
    const kept = await refusal(await postJson(`${t.url}/subscribe`, { email: 'ann@gmail.con', acceptTypo: true }));
    expect(kept.code).toBe('undeliverable_domain');
    await canary();
    expect(t.smtp.to('ann@gmail.con')).toEqual([]);
  });

  it('lets the correct address at gmail.com through', async () => {
    expect((await postJson(`${t.url}/subscribe`, { email: 'ann@gmail.com' })).status).toBe(202);
    await waitFor(() => t.smtp.to('ann@gmail.com')[0], 5000, 'confirmation');
  });

  it('shows a form post the form again with "Did you mean …?" and both choices, in the person’s language', async () => {
    for (const [locale, keep] of [
      ['en', 'Keep bea@hotmial.fr'],
      ['fr', 'Garder bea@hotmial.fr'],
    ] as const) {
      const res = await postForm(`${t.url}/subscribe`, { email: 'bea@hotmial.fr', list: 'default', locale, name: 'Bea' });
      expect(res.status).toBe(400);
      const page = await res.text();
      expect(page).toContain(`<html lang="${locale}"`);
      expect(page).toContain(locale === 'en' ? 'Did you mean bea@hotmail.fr?' : 'Vouliez-vous dire bea@hotmail.fr\u202f?');
      // One form with the suggestion, one that keeps what was typed (acceptTypo=1); both carry the rest of the form.
      expect(page).toContain('<input type="hidden" name="email" value="bea@hotmail.fr">');
      expect(page).toContain('<input type="hidden" name="email" value="bea@hotmial.fr"><input type="hidden" name="acceptTypo" value="1">');
      expect(page).toContain('<input type="hidden" name="name" value="Bea">');
      expect(page).toContain(keep);
    }
    // "Use the suggestion": a signup like any other.
    const used = await postForm(`${t.url}/subscribe`, { email: 'bea@hotmail.fr', list: 'default', locale: 'en', name: 'Bea' });
    expect(used.status).toBe(303);
  });
});

describe('a disposable address', () => {
  it('answers 400 disposable_address (misspellings that are throwaway domains too), even with acceptTypo', async () => {
    for (const email of ['x@mailinator.com', 'x@sub.mailinator.com', 'ann@gmial.com']) {
      expect((await refusal(await postJson(`${t.url}/subscribe`, { email, acceptTypo: true }))).code, email).toBe('disposable_address');
      expect(await stored(email)).toBe(false);
    }
    const page = await postForm(`${t.url}/subscribe`, { email: 'x@mailinator.com', locale: 'fr' }, { 'accept-language': 'fr' });
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('messagerie jetable');
    await canary();
    expect(t.smtp.to('x@mailinator.com')).toEqual([]);
  });

  it('is allowed with BLOCK_DISPOSABLE=false', async () => {
    const open = await startTestService({ env: { BLOCK_DISPOSABLE: 'false' }, roles: ['api'] });
    try {
      expect((await postJson(`${open.url}/subscribe`, { email: 'y@mailinator.com' })).status).toBe(202);
    } finally {
      await open.stop();
    }
  });
});

describe('a domain that cannot receive mail (CHECK_MX=true)', () => {
  it('refuses a null MX, NXDOMAIN and a domain with no MX, A or AAAA; lets MX and A-only domains through', async () => {
    for (const domain of ['nullmx.test', 'unknown.test', 'nothing.test']) {
      expect((await refusal(await postJson(`${t.url}/subscribe`, { email: `c@${domain}` }))).code, domain).toBe('undeliverable_domain');
      expect(await stored(`c@${domain}`)).toBe(false);
    }
    for (const domain of ['good.test', 'aonly.test']) {
      expect((await postJson(`${t.url}/subscribe`, { email: `d@${domain}` })).status, domain).toBe(202);
      await waitFor(() => t.smtp.to(`d@${domain}`)[0], 5000, `confirmation at ${domain}`);
    }
  });

  it('lets the address through when DNS does not answer, logs and counts it, and does not hold other signups', async () => {
    const slow = postJson(`${t.url}/subscribe`, { email: 'e@silent.test' });
    // Meanwhile another signup is answered and mailed at once.
    expect((await postJson(`${t.url}/subscribe`, { email: 'f@good.test' })).status).toBe(202);
    await waitFor(() => t.smtp.to('f@good.test')[0], 5000, 'the other confirmation');
    expect((await slow).status).toBe(202);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/optin_domain_check_failures_total\{code="ETIMEOUT"\} [1-9]/);
    expect(metrics).toMatch(/optin_signup_refusals_total\{code="undeliverable_domain"\} [1-9]/);
  });

  it('keeps answers: a second signup at the same domain asks DNS nothing', async () => {
    expect((await postJson(`${t.url}/subscribe`, { email: 'g1@good.test' })).status).toBe(202);
    const asked = dns.queries.length;
    expect((await postJson(`${t.url}/subscribe`, { email: 'g2@good.test' })).status).toBe(202);
    expect((await refusal(await postJson(`${t.url}/subscribe`, { email: 'h2@nullmx.test' }))).code).toBe('undeliverable_domain');
    expect(dns.queries.length).toBe(asked);
  });
});
