import type { BroadcastProgress, BroadcastSummary } from './service.js';
import { localesOf, localize } from '../../platform/locales/localizedText.js';
import { DEFAULT_LOCALE, LOCALES } from '../../platform/locales/locale.js';
import { escapeHtml as h } from '../../platform/mail/templates.js';
import { csrfInput, layout, when, type PageSession } from '../../platform/http/console.js';

const NOTICES: Record<string, string> = {
  created: 'Broadcast saved.',
  send: 'Sending started.',
  pause: 'Paused: nothing more is sent until you resume.',
  resume: 'Resumed.',
  cancel: 'Cancelled: what was still waiting will not be sent.',
  test: 'Test copy sent.',
};

const notice = (key: string | undefined) => (key && NOTICES[key] ? `<p class="notice" role="status">${h(NOTICES[key])}</p>` : '');

/** The list of broadcasts, newest first, and the form to write a new one. */
export function broadcastsPage(items: BroadcastSummary[], listSlugs: string[], session: PageSession, noticeKey?: string): string {
  const rows = items
    .map(
      (b) =>
        `<tr><td data-label="Subject"><a href="/admin/broadcasts/${b.id}">${h(b.subject)}</a></td><td data-label="List">${h(b.list)}</td><td data-label="Status">${h(b.status)}</td><td data-label="Recipients">${b.total}</td><td data-label="Created">${when(b.createdAt)}</td><td data-label="Send at">${when(b.sendAt)}</td></tr>`,
    )
    .join('\n');
  const table = items.length
    ? `<table><thead><tr><th>Subject</th><th>List</th><th>Status</th><th>Recipients</th><th>Created</th><th>Send at</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
    : '<p class="muted">No broadcast yet.</p>';
  const options = listSlugs.map((slug) => `<option value="${h(slug)}">${h(slug)}</option>`).join('');
  const localeFields = LOCALES.map(
    (
      locale,
    ) => `<p><label>Subject (${locale}${locale === DEFAULT_LOCALE ? '' : ', optional'})<br><input type="text" name="subject_${locale}" maxlength="200"${locale === DEFAULT_LOCALE ? ' required' : ''}></label></p>
<p><label>Body (${locale}${locale === DEFAULT_LOCALE ? '' : ', optional'})<br><textarea name="body_${locale}" rows="10" cols="60"${locale === DEFAULT_LOCALE ? ' required' : ''}></textarea></label></p>`,
  ).join('\n');
  const form = `<h2>Write a broadcast</h2>
<form method="post" action="/admin/broadcasts">${csrfInput(session)}
<p><label>List<br><select name="list" required>${options}</select></label></p>
<p><label>Format<br><select name="format"><option value="markdown">Markdown</option><option value="mjml">MJML</option></select></label></p>
${localeFields}
<p><label>Send at (UTC, optional: leave empty for a draft)<br><input type="datetime-local" name="sendAt"></label></p>
<p class="muted">Scripts, styles, remote fonts and non-https images are removed from the body. Each subscriber reads their language when it is written, else ${DEFAULT_LOCALE}.</p>
<button type="submit">Save</button></form>`;
  return layout('Broadcasts', `${notice(noticeKey)}${table}\n${form}`, session);
}

/** Buttons for the transitions the broadcast's status allows. */
function actions(p: BroadcastProgress, session: PageSession): string {
  const allowed: Record<string, string[]> = {
    draft: ['send', 'cancel'],
    scheduled: ['send', 'cancel'],
    sending: ['pause', 'cancel'],
    paused: ['resume', 'cancel'],
    sent: [],
    cancelled: [],
  };
  const labels: Record<string, string> = { send: 'Send now', pause: 'Pause', resume: 'Resume', cancel: 'Cancel' };
  return (allowed[p.status] ?? [])
    .map(
      (action) =>
        `<form method="post" action="/admin/broadcasts/${p.id}/${action}">${csrfInput(session)}<button type="submit"${action === 'cancel' ? ' class="danger"' : ''}>${labels[action]}</button></form>`,
    )
    .join('\n');
}

/**
 * One broadcast: its counts and a progress bar that refreshes itself while it runs (a meta
 * refresh: the console has no script), the actions its status allows, a test send, and the
 * message as rendered, at phone and desktop width, from the sandboxed preview route.
 */
export function broadcastPage(p: BroadcastProgress, session: PageSession, noticeKey?: string): string {
  const running = p.status === 'sending' || p.status === 'paused' || p.status === 'scheduled';
  const handled = p.sent + p.failed + p.dropped + p.cancelled;
  const share = p.total > 0 ? Math.floor((handled / p.total) * 100) : p.status === 'sent' ? 100 : 0;
  const counts = (['total', 'queued', 'sent', 'failed', 'dropped', 'cancelled', 'unsubscribed'] as const)
    .map((key) => `<tr><th scope="row">${key}</th><td>${p[key]}</td></tr>`)
    .join('');
  const subject = localize(p.subject, DEFAULT_LOCALE);
  const previews = localesOf(p.subject)
    .map(
      (locale) => `<h3>${locale}</h3>
<p><iframe src="/admin/broadcasts/${p.id}/preview?locale=${locale}" width="375" height="640" sandbox title="Preview (${locale}) at phone width"></iframe>
<iframe src="/admin/broadcasts/${p.id}/preview?locale=${locale}" width="720" height="640" sandbox title="Preview (${locale}) at desktop width"></iframe></p>`,
    )
    .join('\n');
  const body = `${notice(noticeKey)}<p>List <strong>${h(p.list)}</strong> · status <strong>${h(p.status)}</strong>${p.sendAt ? ` · send at ${when(p.sendAt)}` : ''}</p>
<p><label>Progress: ${handled} of ${p.total} handled (${share} %)<br><progress max="100" value="${share}">${share} %</progress></label></p>
<table><tbody>${counts}<tr><th scope="row">started</th><td>${when(p.startedAt)}</td></tr><tr><th scope="row">finished</th><td>${when(p.finishedAt)}</td></tr></tbody></table>
<p class="muted">dropped: recipients who opted out (or were suppressed or erased) after sending started; cancelled: those a cancel gave up; unsubscribed: opt-outs through this broadcast's own links.${running ? ' This page refreshes every 5 seconds.' : ''}</p>
<div class="row">${actions(p, session)}</div>
<h2>Test send</h2>
<form method="post" action="/admin/broadcasts/${p.id}/test" class="row">${csrfInput(session)}<input type="email" name="email" required placeholder="you@example.com" aria-label="Address for the test copy"><button type="submit" class="secondary">Send a test copy</button></form>
<h2>Preview</h2>
${previews}`;
  return layout(subject, body, session, running ? '\n<meta http-equiv="refresh" content="5">' : '');
}

/** The preview route's policy: the message's own inline styles and https images, nothing else, in a sandbox. */
export const PREVIEW_CSP = [
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  'img-src https:',
  'sandbox',
  "frame-ancestors 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** The console page's policy, plus its own previews in frames. */
export const BROADCAST_PAGE_CSP = (adminCsp: string) => `${adminCsp}; frame-src 'self'`;
