import { escapeHtml } from '../../platform/mail/templates.js';
import { type PageView, pageText, listOf, actionPage, paragraph, htmlPage, formPage, formParagraph } from '../../platform/http/pages.js';
import { CONFIRM_LINK_DAYS } from '../../platform/mail/compose.js';
import { stringsOf, type Locale } from '../../platform/locales/locale.js';
import type { UnsubscribeScope } from './service.js';
import { LEAVING_REASONS, type LeavingReason, type ReasonsReport } from './reasons.js';
import { layout, type PageSession } from '../../platform/http/console.js';
import { REASON_COMMENT_MAX } from './reasons.js';

const h = escapeHtml;

/** `GET /unsubscribe` of a confirmed subscription: this list, or every list, far apart. */
export function unsubscribePage(locale: Locale, action: string, view: PageView = {}): string {
  const t = pageText(locale);
  const list = listOf(locale, view);
  return actionPage(
    locale,
    t.unsubscribeTitle,
    t.unsubscribeBody(list),
    action,
    [
      { label: t.unsubscribeButton(list), name: 'scope', value: 'list' },
      { label: t.unsubscribeAllButton, name: 'scope', value: 'all', secondary: true, hint: t.unsubscribeAllHint },
    ],
    { ...view, site: undefined },
  );
}

/** `GET /unsubscribe` of a pending request: "this was not me". */
export function notMePage(locale: Locale, action: string, view: PageView = {}): string {
  const t = pageText(locale);
  return actionPage(locale, t.notMeTitle, t.notMeBody(listOf(locale, view)), action, [{ label: t.notMeButton }], {
    ...view,
    site: undefined,
  });
}

/**
 * After `POST /unsubscribe`. A "not me" cancelled a request rather than ended a subscription,
 * and says so. `resubscribeAction` (the resubscribe link) offers the way back.
 */
export function unsubscribedPage(
  locale: Locale,
  outcome: { scope: UnsubscribeScope; notMe: boolean },
  resubscribeAction: string,
  view: PageView = {},
  /** Safe markup after the page's form: the optional "why are you leaving?" form (preferencePages.ts). */
  after = '',
): string {
  const t = pageText(locale);
  const list = listOf(locale, view);
  const withAfter = (html: string) => (after ? html.replace('</form>', `</form>\n${after}`) : html);
  if (outcome.notMe) {
    return withAfter(
      actionPage(
        locale,
        t.cancelledTitle,
        t.cancelledBody(list),
        resubscribeAction,
        [{ label: t.cancelledUndoButton, secondary: true }],
        view,
      ),
    );
  }
  const message = outcome.scope === 'all' ? t.unsubscribedAllBody : t.unsubscribedBody(list);
  return withAfter(
    actionPage(
      locale,
      t.unsubscribedTitle,
      message,
      resubscribeAction,
      [{ label: t.resubscribeButton, secondary: true, hint: t.resubscribeHint }],
      view,
    ),
  );
}

/** After `POST /resubscribe`: active again, or a new confirmation on its way (maybe). */
export function resubscribedPage(locale: Locale, pending: boolean, view: PageView = {}): string {
  const t = pageText(locale);
  const list = listOf(locale, view);
  const body = pending
    ? `${paragraph(t.resubscribedPendingBody(list))}${paragraph(t.resubscribedPendingNext(CONFIRM_LINK_DAYS))}`
    : paragraph(t.resubscribedBody(list));
  return htmlPage(locale, t.resubscribedTitle, body, view);
}

/** The optional "why are you leaving?" form; `lists` are the slugs it is about (the preference centre's). */
export function reasonsForm(locale: Locale, action: string, lists: readonly string[] = []): string {
  const t = stringsOf(locale).reasons;
  const radios = LEAVING_REASONS.map(
    (reason) =>
      `<div class="option"><input type="radio" id="reason-${reason}" name="reason" value="${reason}"><label for="reason-${reason}">${h(t.choices[reason]!)}</label></div>`,
  ).join('\n');
  return `<form method="post" action="${h(action)}">
${lists.map((slug) => `<input type="hidden" name="lists" value="${h(slug)}">`).join('')}<input type="hidden" name="locale" value="${h(locale)}">
<fieldset><legend>${h(t.legend)}</legend>
${radios}
<label for="reason-comment">${h(t.commentLabel)}</label><textarea id="reason-comment" name="comment" maxlength="${REASON_COMMENT_MAX}"></textarea>
</fieldset>
<button type="submit" class="secondary">${h(t.submit)}</button>
</form>`;
}

export function reasonsThanksPage(locale: Locale): string {
  const t = stringsOf(locale).reasons;
  return formPage(locale, t.thanksTitle, formParagraph(t.thanksBody));
}

const REASON_LABELS: Record<LeavingReason, string> = {
  too_many: 'Too many emails',
  not_relevant: 'Not relevant',
  never_signed_up: 'Never signed up',
  other: 'Other',
};

/** Distinct in light and dark mode, and each named in the legend (colour is never the only cue). */
const REASON_COLOURS: Record<LeavingReason, string> = {
  too_many: '#2563eb',
  not_relevant: '#d97706',
  never_signed_up: '#dc2626',
  other: '#6b7280',
};

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
  const legend = LEAVING_REASONS.map(
    (r) =>
      `<span><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${REASON_COLOURS[r]}"/></svg> ${h(REASON_LABELS[r])}: ${report.counts[r]}</span>`,
  ).join(' · ');
  return `<figure class="reasons-chart"><svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${h(`Reasons for leaving per day, ${first} to ${last}: ${summary}`)}">
<line x1="0" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#9aa5b1"/>${bars}
<text x="0" y="${height - 4}" font-size="11" fill="#7b8794">${h(first)}</text><text x="${width}" y="${height - 4}" font-size="11" fill="#7b8794" text-anchor="end">${h(last)}</text>
</svg><figcaption>${legend}</figcaption></figure>`;
}

/** /admin/reasons: counts, the chart, "never signed up" per list and source, the latest words. */
export function reasonsPage(
  report: ReasonsReport,
  query: { list?: string | undefined; days: number },
  slugs: readonly string[],
  session: PageSession,
): string {
  const options = ['', ...slugs]
    .map((slug) => `<option value="${h(slug)}"${slug === (query.list ?? '') ? ' selected' : ''}>${slug ? h(slug) : 'Every list'}</option>`)
    .join('');
  const pairs = (counts: Record<string, number>) =>
    Object.keys(counts).length
      ? `<ul>${Object.entries(counts)
          .sort((a, b) => b[1] - a[1])
          .map(([key, n]) => `<li><code>${h(key)}</code>: ${n}</li>`)
          .join('')}</ul>`
      : '<p class="muted">None.</p>';
  const latest = report.latest.length
    ? `<table><thead><tr><th>When</th><th>List</th><th>Reason</th><th>Words</th></tr></thead><tbody>${report.latest
        .map(
          (l) =>
            `<tr><td data-label="When">${h(l.at.slice(0, 16).replace('T', ' '))} UTC</td><td data-label="List">${h(l.list ?? '')}</td><td data-label="Reason">${h(REASON_LABELS[l.reason])}</td><td data-label="Words">${h(l.comment)}</td></tr>`,
        )
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
