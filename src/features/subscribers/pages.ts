import { csrfInput } from '../../platform/http/console.js';
import { escapeHtml } from '../../platform/mail/templates.js';
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from '../../platform/db/schema.js';
import type { SubscriberPage } from './service.js';
import { layout, options, when, type PageSession } from '../../platform/http/console.js';
import type { contactRecord } from './contactRecord.js';
import type { LocalizedText } from '../../platform/locales/localizedText.js';

const h = escapeHtml;

/** The console page of one contact. */
export const contactHref = (email: string) => `/admin/contacts?email=${encodeURIComponent(email)}`;

/** The exact statement of a consent event, each locale as written, with its version. */
function consentWords(e: { consentVersion: string | null; consentText: LocalizedText | null }): string {
  if (!e.consentVersion) return '';
  const text =
    e.consentText === null
      ? ''
      : typeof e.consentText === 'string'
        ? h(e.consentText)
        : Object.entries(e.consentText)
            .map(([locale, words]) => `<span class="muted">${h(locale)}:</span> ${h(words ?? '')}`)
            .join('<br>');
  return `${text}<br><code class="muted">${h(e.consentVersion)}</code>`;
}

export function contactPage(record: Awaited<ReturnType<typeof contactRecord>>, session: PageSession): string {
  const subscriptions = record.subscriptions.length
    ? `<table><thead><tr><th>List</th><th>Status</th><th>Requested</th><th>Confirmed</th><th>Unsubscribed</th></tr></thead><tbody>${record.subscriptions
        .map(
          (s) =>
            `<tr><td data-label="List">${h(s.listName)} <span class="muted">(${h(s.list)})</span></td><td data-label="Status">${h(s.status)}</td><td data-label="Requested">${when(s.createdAt)}</td><td data-label="Confirmed">${when(s.confirmedAt)}</td><td data-label="Unsubscribed">${when(s.unsubscribedAt)}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No subscriptions.</p>';
  const trail = record.consent.length
    ? `<table><thead><tr><th>What</th><th>List</th><th>When</th><th>IP</th><th>User agent</th><th>Source page</th><th>Detail</th><th>Words agreed to</th></tr></thead><tbody>${record.consent
        .map(
          (e) =>
            `<tr><td data-label="What">${h(e.action)}</td><td data-label="List">${h(e.list ?? '')}</td><td data-label="When">${when(e.at)}</td><td data-label="IP" class="token">${h(e.ip ?? '')}</td><td data-label="User agent" class="token">${h(e.userAgent ?? '')}</td><td data-label="Source page" class="token">${h(e.source ?? '')}</td><td data-label="Detail">${h(e.detail ?? '')}</td><td data-label="Words agreed to">${consentWords(e)}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No consent events.</p>';
  const messages = record.messages.length
    ? `<table><thead><tr><th>Mail</th><th>List</th><th>Status</th><th>Asked for</th><th>Sent</th><th>Last error</th></tr></thead><tbody>${record.messages
        .map(
          (m) =>
            `<tr><td data-label="Mail">${h(m.kind)}</td><td data-label="List">${h(m.list)}</td><td data-label="Status">${h(m.status)}</td><td data-label="Asked for">${when(m.createdAt)}</td><td data-label="Sent">${when(m.sentAt)}</td><td data-label="Last error" class="token">${h(m.lastError ?? '')}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No mail.</p>';
  const blocks = record.suppressions.length
    ? `<ul>${record.suppressions.map((s) => `<li>${h(s.reason)}, ${s.list ? `list ${h(s.list)}` : 'every list'}, ${h(s.source)}, ${when(s.createdAt)}</li>`).join('')}</ul>`
    : '<p class="muted">Not suppressed.</p>';
  return layout(
    record.email,
    `<p>${record.name ? `${h(record.name)} · ` : ''}${record.locale ? `locale ${h(record.locale)} · ` : ''}${record.createdAt ? `known since ${when(record.createdAt)}` : 'no contact record'}</p>
${record.minimizedAt ? `<p class="muted">Minimised ${when(record.minimizedAt)}: name, locale, signup sources, IPs and user agents removed (OPTOUT_RETENTION).</p>` : record.minimizesAt ? `<p class="muted">No active subscription: minimised at the first sweep after ${when(record.minimizesAt)} (OPTOUT_RETENTION).</p>` : ''}
<h2>Subscriptions</h2>${subscriptions}
<h2>Mail history</h2>${messages}
<h2>Consent trail</h2>${trail}
<h2>Suppression entries</h2>${blocks}
<h2>The person's rights</h2>
<p><a href="/admin/api/contacts/${h(encodeURIComponent(record.email))}/export" download>Export everything as JSON</a></p>
<form method="post" action="/admin/contacts/erase" class="row">${csrfInput(session)}
<input type="hidden" name="email" value="${h(record.email)}">
<input type="text" name="confirm" required autocomplete="off" placeholder="Type the address to confirm" aria-label="Type the address to confirm erasure">
<button type="submit" class="danger">Erase this contact</button>
</form>
<p class="muted">Erasure deletes the contact, its subscriptions and consent trail; only a keyed hash stays on the suppression list, so the address is never mailed again.</p>`,
    session,
  );
}

const STATUS_LABELS: Record<SubscriptionStatus, string> = { confirmed: 'Confirmed', pending: 'Pending', unsubscribed: 'Unsubscribed' };

/** A list's subscribers: search, status filter, paging and the export links. */
export function listSubscribersPage(
  slug: string,
  page: SubscriberPage,
  query: { status: SubscriptionStatus; q?: string | undefined },
  session: PageSession,
): string {
  const base = `/admin/lists/${encodeURIComponent(slug)}`;
  const exportUrl = (format: string) =>
    `/admin/api/lists/${encodeURIComponent(slug)}/subscribers.csv?${new URLSearchParams({ status: query.status, ...(format === 'ndjson' ? { format } : {}) }).toString()}`;
  const rows = page.items
    .map(
      (s) => `<tr>
<td data-label="Address" class="token"><a href="${h(contactHref(s.email))}">${h(s.email)}</a></td>
<td data-label="Name">${h(s.name ?? '')}</td>
<td data-label="Locale">${h(s.locale)}</td>
<td data-label="Signed up">${when(s.createdAt)}</td>
<td data-label="Confirmed">${when(s.confirmedAt)}</td>
<td data-label="Unsubscribed">${when(s.unsubscribedAt)}</td>
</tr>`,
    )
    .join('\n');
  const next = page.nextCursor
    ? `<p><a rel="next" href="${h(`${base}?${new URLSearchParams({ status: query.status, q: query.q ?? '', cursor: page.nextCursor }).toString()}`)}">Next page →</a></p>`
    : '';
  const table = page.items.length
    ? `<table><thead><tr><th>Address</th><th>Name</th><th>Locale</th><th>Signed up</th><th>Confirmed</th><th>Unsubscribed</th></tr></thead><tbody>
${rows}
</tbody></table>${next}`
    : '<p class="muted">No subscribers match.</p>';
  return layout(
    `Subscribers of ${slug}`,
    `<form method="get" action="${h(base)}" class="row" role="search">
<input type="search" name="q" value="${h(query.q ?? '')}" placeholder="Part of an address" aria-label="Search addresses">
<select name="status" aria-label="Status">${options(SUBSCRIPTION_STATUSES, query.status, STATUS_LABELS)}</select>
<button type="submit">Search</button>
</form>
<p>Export every ${h(STATUS_LABELS[query.status].toLowerCase())} subscriber: <a href="${h(exportUrl('csv'))}" download>CSV</a> · <a href="${h(exportUrl('ndjson'))}" download>NDJSON</a></p>
${query.status === 'confirmed' ? '<p class="muted">Confirmed subscribers whose address is suppressed (a bounce, a complaint, a block) are not shown and not exported.</p>' : ''}
${table}`,
    session,
  );
}
