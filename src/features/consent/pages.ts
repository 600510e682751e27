import { type Locale } from '../../platform/locales/locale.js';
import { escapeHtml } from '../../platform/mail/templates.js';
import { localize } from '../../platform/locales/localizedText.js';
import type { ConsentStatement } from './service.js';
import { LOCALES } from '../../platform/locales/locale.js';
import { csrfInput, layout, type PageSession } from '../../platform/http/console.js';

const h = escapeHtml;

/** /admin/lists/:slug/consent: the current statement, a form for a new version, every earlier one. */
export function consentPage(
  list: { slug: string; name: string; requireConsent: boolean; consentVersion: string | null },
  history: readonly ConsentStatement[],
  session: PageSession,
  notice?: string,
): string {
  const current = history.find((s) => s.version === list.consentVersion);
  const wordsOf = (s: ConsentStatement, locale: string) =>
    typeof s.text === 'string' ? s.text : ((s.text as Record<string, string | undefined>)[locale] ?? '');
  const fields = LOCALES.map(
    (locale) =>
      `<p><label for="consent-${locale}">Statement (${h(locale)})</label><br><textarea id="consent-${locale}" name="${h(locale)}" rows="3" cols="60" maxlength="1000">${h(current ? wordsOf(current, locale) : '')}</textarea></p>`,
  ).join('\n');
  const versions = history.length
    ? `<table><thead><tr><th>Version</th><th>Written</th><th>Words</th></tr></thead><tbody>${history
        .map(
          (s) =>
            `<tr><td data-label="Version"><code>${h(s.version)}</code>${s.version === list.consentVersion ? ' <strong>current</strong>' : ''}</td><td data-label="Written">${h(new Date(s.createdAt).toISOString().slice(0, 16).replace('T', ' '))} UTC</td><td data-label="Words">${
              typeof s.text === 'string'
                ? h(s.text)
                : Object.entries(s.text)
                    .map(([locale, words]) => `<span class="muted">${h(locale)}:</span> ${h(words ?? '')}`)
                    .join('<br>')
            }</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No statement yet.</p>';
  const base = `/admin/lists/${h(encodeURIComponent(list.slug))}/consent`;
  // The switch: one button that turns it the other way (no script).
  const toggle = `<form method="post" action="${base}/require">${csrfInput(session)}<input type="hidden" name="requireConsent" value="${list.requireConsent ? 'false' : 'true'}"><button type="submit" class="secondary">${list.requireConsent ? 'Stop requiring it' : 'Require it for every signup'}</button></form>`;
  const unusable =
    list.requireConsent && list.consentVersion === null
      ? '<p class="problem">No statement yet: this list takes no signups until a statement is written.</p>'
      : '';
  return layout(
    `Consent statement of ${list.name}`,
    `${notice ? `<p class="notice">${h(notice)}</p>` : ''}<p>The sentence shown next to the signup box of <code>${h(list.slug)}</code>, and beside the list in the preference centre. ${list.requireConsent ? 'This list refuses a signup without it.' : 'This list accepts signups without it.'} Every change is a new version; earlier versions are kept for the proof of each consent.</p>
${unusable}${toggle}
<form method="post" action="${base}">${csrfInput(session)}
${fields}
<button type="submit">Save as the current statement</button></form>
<p><a href="/lists/${h(encodeURIComponent(list.slug))}/form">The signup form snippet with this statement</a></p>
<h2>Versions</h2>${versions}`,
    session,
  );
}

/**
 * The answer to a lapsed confirm link: a form that signs up again (to `POST /subscribe`, as a
 * site's own form would), filled in when the request is still known. `form` false (a signup
 * needs a human check this page cannot carry): only the advice to sign up where they did.
 */
/**
 * A list's consent statement in a signup form: its version in `consent`, and the words beside a
 * box that is not ticked and must be (never pre-ticked: consent is given, not assumed).
 */
export function consentFields(locale: Locale, statement: ConsentStatement, id: string): string {
  return `<input type="hidden" name="consent" value="${escapeHtml(statement.version)}">
<p class="agree"><input type="checkbox" id="${escapeHtml(id)}" name="agree" value="yes" required> <label for="${escapeHtml(id)}">${escapeHtml(localize(statement.text, locale))}</label></p>`;
}
