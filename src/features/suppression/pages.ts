import { contactHref } from '../subscribers/index.js';
import { escapeHtml } from '../../platform/mail/templates.js';
import { type PageSession, when, csrfInput, layout, options } from '../../platform/http/console.js';
import { SUPPRESSION_REASONS } from '../../platform/db/schema.js';
import type { ImportCounts } from './csv.js';
import type { SuppressionPage, SuppressionQuery } from './service.js';
import { CSRF_FIELD } from '../../platform/http/adminSession.js';

const h = escapeHtml;

const NOTICES: Record<string, string> = {
  added: 'The address is on the suppression list.',
  lifted: 'The entry was lifted: the address may be mailed again.',
  domain: 'The domain is blocked: no address there is mailed.',
};

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
<td data-label="Address" class="token">${item.domain ? `every address at ${h(item.domain)}` : item.email ? `<a href="${h(contactHref(item.email))}">${h(item.email)}</a>` : '<span class="muted">erased (hash only)</span>'}</td>
<td data-label="Reason">${h(item.reason)}</td>
<td data-label="List">${item.list ? h(item.list) : '<span class="muted">every list</span>'}</td>
<td data-label="Source" class="token">${h(item.source)}</td>
<td data-label="Date">${when(item.createdAt)}</td>
<td data-label="Lift"><form method="post" action="/admin/suppressions/${item.id}/lift">${csrfInput(session)}<input name="reason" required maxlength="500" placeholder="Why lift it?" aria-label="Reason for lifting entry ${item.id}"><button type="submit" class="secondary">Lift</button></form></td>
</tr>`,
    )
    .join('\n');
  const next = page.nextCursor
    ? `<p><a rel="next" href="/admin/suppressions?${h(new URLSearchParams({ q: query.q ?? '', reason: query.reason ?? '', list: query.list ?? '', kind: query.kind ?? '', cursor: page.nextCursor }).toString())}">Next page →</a></p>`
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
<select name="kind" aria-label="Kind"><option value="">Addresses and domains</option>${options(['address', 'domain'], query.kind, { address: 'Addresses only', domain: 'Domain blocks only' })}</select>
<button type="submit">Search</button>
</form>
<p><a href="/admin/api/suppressions.csv" download>Download the whole list as CSV</a></p>
${table}
<h2>Add an address, or block a domain</h2>
<form method="post" action="/admin/suppressions" class="row">${csrfInput(session)}
<input type="text" name="email" required placeholder="someone@example.com, spam.example or *.spam.example" aria-label="Address to suppress, or a domain to block">
<select name="reason" aria-label="Reason for the new entry">${options(
      SUPPRESSION_REASONS.filter((r) => r !== 'erased'),
      'manual',
    )}</select>
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
