import { LOCALES } from '../../platform/locales/locale.js';
import { escapeHtml } from '../../platform/mail/templates.js';
import type { ConsentStatement } from './service.js';
import { LEAVING_REASONS, type LeavingReason, type ReasonsReport } from '../optout/reasons.js';
import { csrfInput, layout, type PageSession } from '../../platform/http/console.js';

const h = escapeHtml;

const REASON_LABELS: Record<LeavingReason, string> = { too_many: 'Too many emails', not_relevant: 'Not relevant', never_signed_up: 'Never signed up', other: 'Other' };
/** Distinct in light and dark mode, and each named in the legend (colour is never the only cue). */
const REASON_COLOURS: Record<LeavingReason, string> = { too_many: '#2563eb', not_relevant: '#d97706', never_signed_up: '#dc2626', other: '#6b7280' };

/**
 * The reasons for leaving per day as a small stacked bar chart, server-rendered SVG (the console
 * runs no script; attributes, not styles, so its CSP needs nothing more). Self-contained, so
 * the dashboard or a list's page can embed it as it is.
 */
export function reasonsChart(report: Pick<ReasonsReport, 'days' | 'counts'>): string {
  const width = 600;
  const height = 160;
  const top = 10;
  const bottom = 20;
  const days = report.days;
  const highest = Math.max(1, ...days.map((d) => LEAVING_REASONS.reduce((sum, r) => sum + d[r], 0)));
  const slot = width / Math.max(1, days.length);
  const bar = Math.max(2, slot * 0.7);
  const scale = (height - top - bottom) / highest;
  const bars = days
    .map((d, i) => {
      let y = height - bottom;
      const x = i * slot + (slot - bar) / 2;
      return LEAVING_REASONS.map((reason) => {
        if (d[reason] === 0) return '';
        const barHeight = d[reason] * scale;
        y -= barHeight;
        return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bar.toFixed(1)}" height="${barHeight.toFixed(1)}" fill="${REASON_COLOURS[reason]}"><title>${h(`${d.day}: ${REASON_LABELS[reason]} ${d[reason]}`)}</title></rect>`;
      }).join('');
    })
    .join('');
  const summary = LEAVING_REASONS.map((r) => `${REASON_LABELS[r]} ${report.counts[r]}`).join(', ');
  const first = days[0]?.day ?? '';
  const last = days.at(-1)?.day ?? '';
  const legend = LEAVING_REASONS.map((r) => `<span><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${REASON_COLOURS[r]}"/></svg> ${h(REASON_LABELS[r])}: ${report.counts[r]}</span>`).join(' · ');
  return `<figure class="reasons-chart"><svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${h(`Reasons for leaving per day, ${first} to ${last}: ${summary}`)}">
<line x1="0" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#9aa5b1"/>${bars}
<text x="0" y="${height - 4}" font-size="11" fill="#7b8794">${h(first)}</text><text x="${width}" y="${height - 4}" font-size="11" fill="#7b8794" text-anchor="end">${h(last)}</text>
</svg><figcaption>${legend}</figcaption></figure>`;
}

/** /admin/reasons: counts, the chart, "never signed up" per list and source, the latest words. */
export function reasonsPage(report: ReasonsReport, query: { list?: string | undefined; days: number }, slugs: readonly string[], session: PageSession): string {
  const options = ['', ...slugs].map((slug) => `<option value="${h(slug)}"${slug === (query.list ?? '') ? ' selected' : ''}>${slug ? h(slug) : 'Every list'}</option>`).join('');
  const pairs = (counts: Record<string, number>) =>
    Object.keys(counts).length ? `<ul>${Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([key, n]) => `<li><code>${h(key)}</code>: ${n}</li>`).join('')}</ul>` : '<p class="muted">None.</p>';
  const latest = report.latest.length
    ? `<table><thead><tr><th>When</th><th>List</th><th>Reason</th><th>Words</th></tr></thead><tbody>${report.latest
        .map((l) => `<tr><td data-label="When">${h(l.at.slice(0, 16).replace('T', ' '))} UTC</td><td data-label="List">${h(l.list ?? '')}</td><td data-label="Reason">${h(REASON_LABELS[l.reason])}</td><td data-label="Words">${h(l.comment)}</td></tr>`)
        .join('')}</tbody></table>`
    : '<p class="muted">No free-text answers.</p>';
  return layout(
    'Why people leave',
    `<form method="get" action="/admin/reasons" class="row"><select name="list" aria-label="List">${options}</select>
<input type="number" name="days" min="1" max="365" value="${query.days}" aria-label="Days"><button type="submit" class="secondary">Show</button></form>
${reasonsChart(report)}
<h2>"I never signed up", a sign of abuse</h2>
<p class="muted">Per list:</p>${pairs(report.neverSignedUp.byList)}
<p class="muted">Per signup page:</p>${pairs(report.neverSignedUp.bySource)}
<h2>Latest answers in their own words</h2>${latest}
<p class="muted">Answers of erased people count, without their words.</p>`,
    session,
  );
}

/** /admin/lists/:slug/consent: the current statement, a form for a new version, every earlier one. */
export function consentPage(list: { slug: string; name: string; requireConsent: boolean; consentVersion: string | null }, history: readonly ConsentStatement[], session: PageSession, notice?: string): string {
  const current = history.find((s) => s.version === list.consentVersion);
  const wordsOf = (s: ConsentStatement, locale: string) => (typeof s.text === 'string' ? s.text : (s.text as Record<string, string | undefined>)[locale] ?? '');
  const fields = LOCALES.map(
    (locale) => `<p><label for="consent-${locale}">Statement (${h(locale)})</label><br><textarea id="consent-${locale}" name="${h(locale)}" rows="3" cols="60" maxlength="1000">${h(current ? wordsOf(current, locale) : '')}</textarea></p>`,
  ).join('\n');
  const versions = history.length
    ? `<table><thead><tr><th>Version</th><th>Written</th><th>Words</th></tr></thead><tbody>${history
        .map(
          (s) =>
            `<tr><td data-label="Version"><code>${h(s.version)}</code>${s.version === list.consentVersion ? ' <strong>current</strong>' : ''}</td><td data-label="Written">${h(new Date(s.createdAt).toISOString().slice(0, 16).replace('T', ' '))} UTC</td><td data-label="Words">${
              typeof s.text === 'string' ? h(s.text) : Object.entries(s.text).map(([locale, words]) => `<span class="muted">${h(locale)}:</span> ${h(words ?? '')}`).join('<br>')
            }</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No statement yet.</p>';
  return layout(
    `Consent statement of ${list.name}`,
    `${notice ? `<p class="notice">${h(notice)}</p>` : ''}<p>The sentence shown next to the signup box of <code>${h(list.slug)}</code>. ${list.requireConsent ? 'This list refuses a signup without it.' : 'This list accepts signups without it.'} Every change is a new version; earlier versions are kept for the proof of each consent.</p>
<form method="post" action="/admin/lists/${h(encodeURIComponent(list.slug))}/consent">${csrfInput(session)}
${fields}
<button type="submit">Save as the current statement</button></form>
<p><a href="/lists/${h(encodeURIComponent(list.slug))}/form">The signup form snippet with this statement</a></p>
<h2>Versions</h2>${versions}`,
    session,
  );
}
