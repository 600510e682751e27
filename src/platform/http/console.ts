import { createHash } from 'node:crypto';
import { SUPPRESSION_REASONS } from '../db/schema.js';
import { escapeHtml } from '../mail/templates.js';
import type { SendingSetup } from '../../features/sending/service.js';
import { liveSummary } from '../../features/sending/service.js';
import type { contactRecord } from '../../features/subscribers/contactRecord.js';
import type { ImportCounts } from '../../features/suppression/csv.js';
import type { SuppressionPage, SuppressionQuery } from '../../features/suppression/service.js';
import { CSRF_FIELD } from './adminSession.js';
import type { LocalizedText } from '../locales/localizedText.js';
import { htmlDocument } from './pages.js';

/**
 * The admin console's pages: server-rendered, no script, one inline stylesheet allowed by its
 * hash in the Content-Security-Policy. Every value reaching the markup goes through `h`.
 */
const h = escapeHtml;

/*
 * Colours keep a contrast of at least 4.5:1 in light and in dark mode (muted text included).
 * Table cells wrap only between words (overflow-wrap, not word-break, so columns are never
 * squeezed narrower than their longest word), except cells of one long token (an address, a
 * URL, a user agent), which may break anywhere, as any cell may on a phone, where rows become cards.
 */
const STYLE = `:root{color-scheme:light dark;--bg:#f5f7fa;--card:#fff;--text:#1f2933;--muted:#52606d;--link:#1d4ed8;--primary:#1d4ed8;--on-primary:#fff;--secondary:#e4e7eb;--on-secondary:#1f2933;--danger:#b91c1c;--line:#e4e7eb;--field:#7b8794;--found:#047857;--missing:#b91c1c;--notice-bg:#ecfdf5;--notice-line:#a7f3d0;--problem-bg:#fef2f2;--problem-line:#fecaca}
@media (prefers-color-scheme:dark){:root{--bg:#111827;--card:#1f2937;--text:#e5e7eb;--muted:#a3adbb;--link:#93c5fd;--primary:#2563eb;--secondary:#374151;--on-secondary:#f3f4f6;--line:#374151;--field:#6b7280;--found:#34d399;--missing:#fca5a5;--notice-bg:#064e3b;--notice-line:#047857;--problem-bg:#450a0a;--problem-line:#991b1b}}
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:var(--bg);color:var(--text);margin:0;padding:1rem}
main{max-width:72rem;margin:0 auto;background:var(--card);border-radius:8px;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}a{color:var(--link)}
h1{font-size:1.4rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}h1,p,li{overflow-wrap:anywhere}
nav{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin-bottom:1rem;padding-bottom:.75rem;border-bottom:1px solid var(--line)}
form.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.5rem 0}nav form{margin:0}nav form.row{flex:1 1 22rem;flex-wrap:nowrap}nav form.row input{flex:1 1 auto;min-width:0}
input,select,button{font:inherit;font-size:1rem;padding:.45rem .6rem;border:1px solid var(--field);border-radius:6px;max-width:100%;background:var(--card);color:var(--text)}
input[type=search],input[type=email],input[type=text],input[type=url]{flex:1 1 14rem}textarea{font:inherit;font-size:1rem;padding:.45rem .6rem;border:1px solid var(--field);border-radius:6px;width:100%;background:var(--card);color:var(--text)}label{display:block;margin:.6rem 0 .2rem;font-weight:600}fieldset{border:1px solid var(--line);border-radius:6px;margin:.75rem 0}label.check{font-weight:400}button{background:var(--primary);color:var(--on-primary);border:0;cursor:pointer}
button.secondary{background:var(--secondary);color:var(--on-secondary)}button.danger{background:var(--danger);color:#fff}
table{width:100%;border-collapse:collapse;margin:.5rem 0}th,td{text-align:left;padding:.45rem;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
td form{display:flex;flex-wrap:wrap;gap:.3rem;margin:0}td input{flex:1 1 8rem}.muted{color:var(--muted)}
code{word-break:break-all}time{white-space:nowrap}td.token{overflow-wrap:anywhere}.found{color:var(--found)}.missing,.different{color:var(--missing)}.unchecked{color:var(--muted)}
iframe{max-width:100%;border:1px solid var(--line);background:#fff}textarea{font:inherit;width:100%;max-width:100%;padding:.45rem .6rem;border:1px solid var(--field);border-radius:6px;background:var(--card);color:var(--text)}
.notice{background:var(--notice-bg);border:1px solid var(--notice-line);padding:.6rem;border-radius:6px}.problem{background:var(--problem-bg);border:1px solid var(--problem-line);padding:.6rem;border-radius:6px}
@media (max-width:40rem){thead{display:none}tr{display:block;border-bottom:2px solid var(--field);padding:.3rem 0}td{display:block;border:0;padding:.2rem .3rem;overflow-wrap:anywhere}td::before{content:attr(data-label) ": ";font-weight:600}}`;

/** The Content-Security-Policy of every console page: nothing but this stylesheet and same-origin forms. */
export const ADMIN_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface PageSession {
  csrf: string;
}

/** The hidden CSRF field every console form posts. */
export const csrfInput = (session: PageSession) => `<input type="hidden" name="${CSRF_FIELD}" value="${h(session.csrf)}">`;

/** A date and time, kept on one line (a date cut at its hyphens is hard to read). */
export const when = (iso: string | null) => (iso ? `<time datetime="${h(iso)}">${h(iso.slice(0, 16).replace('T', ' '))} UTC</time>` : '');

/** A console page: the signed-in navigation, the title, the body (and `head` extras such as a meta refresh). */
export function layout(title: string, body: string, session?: PageSession, head = ''): string {
  const nav = session
    ? `<nav><strong>optin admin</strong><a href="/admin">Dashboard</a><a href="/admin/lists">Lists</a><a href="/admin/broadcasts">Broadcasts</a><a href="/admin/suppressions">Suppression list</a><a href="/admin/webhooks">Webhooks</a><a href="/admin/queues">Queue</a><a href="/admin/sending">Sending setup</a>
<form method="get" action="/admin/contacts" class="row"><input type="email" name="email" required placeholder="contact@example.com" aria-label="Contact address"><button type="submit" class="secondary">View contact</button></form>
<form method="post" action="/admin/sign-out">${csrfInput(session)}<button type="submit" class="secondary">Sign out</button></form></nav>`
    : '';
  return htmlDocument({
    lang: 'en',
    title: `${title} · optin admin`,
    style: STYLE,
    // same-origin, not none: without a referrer policy allowing it, browsers send "Origin: null" on our own forms.
    referrer: 'same-origin',
    head: `\n<meta name="robots" content="noindex">${head}`,
    main: `${nav}<h1>${h(title)}</h1>\n${body}`,
  });
}

export function signInPage(problem?: string): string {
  return layout(
    'Sign in',
    `${problem ? `<p class="problem">${h(problem)}</p>` : ''}
<form method="post" action="/admin/sign-in" class="row">
<input type="password" name="token" required autocomplete="current-password" placeholder="Admin token" aria-label="Admin token">
<button type="submit">Sign in</button>
</form>`,
  );
}

export function adminErrorPage(code: string, message: string, session?: PageSession): string {
  return layout('Something is not right', `<p class="problem">${h(message)}</p><p class="muted">${h(code)}</p><p><a href="/admin/suppressions">Back to the suppression list</a></p>`, session);
}

export function messagePage(title: string, message: string, session: PageSession): string {
  return layout(title, `<p class="notice">${h(message)}</p><p><a href="/admin/suppressions">Back to the suppression list</a></p>`, session);
}

const NOTICES: Record<string, string> = {
  added: 'The address is on the suppression list.',
  lifted: 'The entry was lifted: the address may be mailed again.',
};

/** The <option>s of a select, one of them selected. Shared with the dashboard's pages. */
export const options = (values: readonly string[], selected: string | undefined, labels: Record<string, string> = {}) =>
  values.map((v) => `<option value="${h(v)}"${v === selected ? ' selected' : ''}>${h(labels[v] ?? v)}</option>`).join('');

/** The console page of one contact. */
export const contactHref = (email: string) => `/admin/contacts?email=${encodeURIComponent(email)}`;

export function suppressionsPage(
  page: SuppressionPage,
  query: Omit<SuppressionQuery, 'limit'>,
  listSlugs: readonly string[],
  session: PageSession,
  notice?: string,
): string {
  const rows = page.items
    .map(
      (item) => `<tr>
<td data-label="Address" class="token">${item.email ? `<a href="${h(contactHref(item.email))}">${h(item.email)}</a>` : '<span class="muted">erased (hash only)</span>'}</td>
<td data-label="Reason">${h(item.reason)}</td>
<td data-label="List">${item.list ? h(item.list) : '<span class="muted">every list</span>'}</td>
<td data-label="Source" class="token">${h(item.source)}</td>
<td data-label="Date">${when(item.createdAt)}</td>
<td data-label="Lift"><form method="post" action="/admin/suppressions/${item.id}/lift">${csrfInput(session)}<input name="reason" required maxlength="500" placeholder="Why lift it?" aria-label="Reason for lifting entry ${item.id}"><button type="submit" class="secondary">Lift</button></form></td>
</tr>`,
    )
    .join('\n');
  const next = page.nextCursor
    ? `<p><a rel="next" href="/admin/suppressions?${h(new URLSearchParams({ q: query.q ?? '', reason: query.reason ?? '', list: query.list ?? '', cursor: page.nextCursor }).toString())}">Next page →</a></p>`
    : '';
  const table = page.items.length
    ? `<table><thead><tr><th>Address</th><th>Reason</th><th>List</th><th>Source</th><th>Date</th><th>Lift</th></tr></thead><tbody>
${rows}
</tbody></table>${next}`
    : '<p class="muted">No entries match.</p>';
  return layout(
    'Suppression list',
    `${notice && NOTICES[notice] ? `<p class="notice">${h(NOTICES[notice])}</p>` : ''}
<form method="get" action="/admin/suppressions" class="row" role="search">
<input type="search" name="q" value="${h(query.q ?? '')}" placeholder="Address, domain or start of an address" aria-label="Search">
<select name="reason" aria-label="Reason"><option value="">Any reason</option>${options(SUPPRESSION_REASONS, query.reason)}</select>
<select name="list" aria-label="List"><option value="">Any list</option>${options(['*', ...listSlugs], query.list, { '*': 'Every list (global entries)' })}</select>
<button type="submit">Search</button>
</form>
<p><a href="/admin/api/suppressions.csv" download>Download the whole list as CSV</a></p>
${table}
<h2>Add an address</h2>
<form method="post" action="/admin/suppressions" class="row">${csrfInput(session)}
<input type="email" name="email" required placeholder="someone@example.com" aria-label="Address to suppress">
<select name="reason" aria-label="Reason for the new entry">${options(SUPPRESSION_REASONS.filter((r) => r !== 'erased'), 'manual')}</select>
<select name="list" aria-label="List of the new entry"><option value="">Every list</option>${options(listSlugs, undefined)}</select>
<button type="submit">Add</button>
</form>
<h2>Import a CSV</h2>
<p class="muted">One address per row, or a header row with an <code>email</code> column (optional <code>reason</code> and <code>list</code> columns).</p>
<form method="post" action="/admin/suppressions/import?${CSRF_FIELD}=${h(encodeURIComponent(session.csrf))}" enctype="multipart/form-data" class="row">
<input type="file" name="file" accept=".csv,text/csv" required aria-label="CSV file">
<button type="submit">Import</button>
</form>`,
    session,
  );
}

export function importResultPage(counts: ImportCounts, session: PageSession): string {
  const problems = counts.problems.length
    ? `<h2>Invalid rows</h2><table><thead><tr><th>Row</th><th>Problem</th></tr></thead><tbody>${counts.problems
        .map((p) => `<tr><td data-label="Row">${p.row}</td><td data-label="Problem">${h(p.message)}</td></tr>`)
        .join('')}</tbody></table>`
    : '';
  return layout(
    'Import finished',
    `<table><tbody>
<tr><th>Added</th><td data-label="Added" id="added">${counts.added}</td></tr>
<tr><th>Already present</th><td data-label="Already present" id="already-present">${counts.alreadyPresent}</td></tr>
<tr><th>Invalid</th><td data-label="Invalid" id="invalid">${counts.invalid}</td></tr>
</tbody></table>${problems}
<p><a href="/admin/suppressions">Back to the suppression list</a></p>`,
    session,
  );
}

/** The exact statement of a consent event, each locale as written, with its version. */
function consentWords(e: { consentVersion: string | null; consentText: LocalizedText | null }): string {
  if (!e.consentVersion) return '';
  const text = e.consentText === null ? '' : typeof e.consentText === 'string' ? h(e.consentText) : Object.entries(e.consentText).map(([locale, words]) => `<span class="muted">${h(locale)}:</span> ${h(words ?? '')}`).join('<br>');
  return `${text}<br><code class="muted">${h(e.consentVersion)}</code>`;
}

export function contactPage(record: Awaited<ReturnType<typeof contactRecord>>, session: PageSession): string {
  const subscriptions = record.subscriptions.length
    ? `<table><thead><tr><th>List</th><th>Status</th><th>Requested</th><th>Confirmed</th><th>Unsubscribed</th></tr></thead><tbody>${record.subscriptions
        .map(
          (s) => `<tr><td data-label="List">${h(s.listName)} <span class="muted">(${h(s.list)})</span></td><td data-label="Status">${h(s.status)}</td><td data-label="Requested">${when(s.createdAt)}</td><td data-label="Confirmed">${when(s.confirmedAt)}</td><td data-label="Unsubscribed">${when(s.unsubscribedAt)}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No subscriptions.</p>';
  const trail = record.consent.length
    ? `<table><thead><tr><th>What</th><th>List</th><th>When</th><th>IP</th><th>User agent</th><th>Source page</th><th>Detail</th><th>Words agreed to</th></tr></thead><tbody>${record.consent
        .map(
          (e) => `<tr><td data-label="What">${h(e.action)}</td><td data-label="List">${h(e.list ?? '')}</td><td data-label="When">${when(e.at)}</td><td data-label="IP" class="token">${h(e.ip ?? '')}</td><td data-label="User agent" class="token">${h(e.userAgent ?? '')}</td><td data-label="Source page" class="token">${h(e.source ?? '')}</td><td data-label="Detail">${h(e.detail ?? '')}</td><td data-label="Words agreed to">${consentWords(e)}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No consent events.</p>';
  const messages = record.messages.length
    ? `<table><thead><tr><th>Mail</th><th>List</th><th>Status</th><th>Asked for</th><th>Sent</th><th>Last error</th></tr></thead><tbody>${record.messages
        .map(
          (m) => `<tr><td data-label="Mail">${h(m.kind)}</td><td data-label="List">${h(m.list)}</td><td data-label="Status">${h(m.status)}</td><td data-label="Asked for">${when(m.createdAt)}</td><td data-label="Sent">${when(m.sentAt)}</td><td data-label="Last error" class="token">${h(m.lastError ?? '')}</td></tr>`,
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

export function sendingSetupPage(setup: SendingSetup, session: PageSession): string {
  const rows = setup.records
    .map(
      (r) => `<tr>
<td data-label="Record">${h(r.kind)}<br><span class="muted">${h(r.purpose)}</span></td>
<td data-label="TXT name"><code>${h(r.name)}</code></td>
<td data-label="Publish">${r.value ? `<code>${h(r.value)}</code>` : '<span class="muted">nothing yet</span>'}</td>
<td data-label="Live DNS" class="${h(r.live.status)}">${h(liveSummary(r.live))}</td>
</tr>`,
    )
    .join('\n');
  const dns = setup.dnsUnreachable
    ? `<p class="problem">DNS could not be reached (${h(setup.dnsUnreachable)}): nothing was checked. The records below are what to publish.</p>`
    : '';
  return layout(
    'Sending setup',
    `${setup.warnings.map((w) => `<p class="problem">${h(w)}</p>`).join('\n')}
${dns}<p>What to publish in DNS so that the big mailbox providers accept mail from <strong>${h(setup.fromDomain)}</strong>: built from this configuration, and checked against live DNS. <code>docs/deliverability.md</code> explains each record.</p>
<table><thead><tr><th>Record</th><th>TXT name</th><th>Publish</th><th>Live DNS</th></tr></thead><tbody>
${rows}
</tbody></table>`,
    session,
  );
}
