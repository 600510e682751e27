import { stringsOf, type Locale } from '../../platform/locales/locale.js';
import type { ConsentStatement } from '../consent/index.js';
import { consentFields } from '../consent/index.js';
import { escapeHtml as h } from '../../platform/mail/templates.js';
import { type PageView, pageText, messagePage, htmlPage, paragraph, tokenFormPage, listOf } from '../../platform/http/pages.js';
import { CONFIRM_LINK_DAYS } from '../../platform/mail/compose.js';
import { escapeHtml } from '../../platform/mail/templates.js';

/**
 * A lapsed confirm link: the way to sign up again, with the address and list filled in, and the
 * list's current consent statement to agree to again (a list that requires it refuses a signup
 * without it).
 */
export function signupAgainPage(
  locale: Locale,
  again: { email: string; listSlug: string } | null,
  form: boolean,
  view: PageView = {},
  statement: ConsentStatement | null = null,
): string {
  const t = pageText(locale);
  if (!form) return messagePage(locale, t.expiredTitle, t.expiredElsewhereBody, view);
  return htmlPage(
    locale,
    t.expiredTitle,
    `${paragraph(t.expiredBody)}
<form method="post" action="/subscribe">
<label>${escapeHtml(t.emailLabel)} <input type="email" name="email" value="${escapeHtml(again?.email ?? '')}" required autocomplete="email"></label>
<input type="hidden" name="list" value="${escapeHtml(again?.listSlug ?? 'default')}">
<input type="hidden" name="locale" value="${escapeHtml(locale)}">
${statement ? `${consentFields(locale, statement, 'signup-again-consent')}\n` : ''}<button type="submit">${escapeHtml(t.signupAgainButton)}</button>
</form>`,
    // The address is in the form, in full, for the person to check; it is not repeated masked.
    { ...view, address: undefined },
  );
}

/**
 * "Did you mean ann@gmail.com?" after a form signup whose domain looks like a typo of a big
 * provider's: two buttons, each a whole signup again (the form's other fields carried along),
 * one with the suggestion, one keeping what was typed (`acceptTypo=1`, which skips this check only).
 */
export function typoPage(locale: Locale, typed: string, suggestion: string, fields: Readonly<Record<string, string>>): string {
  const t = pageText(locale);
  const hidden = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
  const form = (email: string, label: string, extra: string, secondary: boolean) =>
    `<form method="post" action="/subscribe">${hidden}<input type="hidden" name="email" value="${escapeHtml(email)}">${extra}<button type="submit"${secondary ? ' class="secondary"' : ''}>${escapeHtml(label)}</button></form>`;
  return htmlPage(
    locale,
    t.typoTitle(suggestion),
    `${paragraph(t.typoBody(typed))}
<div class="choices">
${form(suggestion, t.typoUse(suggestion), '', false)}
${form(typed, t.typoKeep(typed), '<input type="hidden" name="acceptTypo" value="1">', true)}
</div>`,
  );
}

/**
 * After a signup. Its answer must not depend on the address's state, so it promises nothing; it
 * shows the address as typed (in full: a typo can be caught here) rather than masked.
 */
export function thanksPage(locale: Locale, view: Omit<PageView, 'address'> & { typedAddress?: string | undefined } = {}): string {
  const t = pageText(locale);
  const typed = view.typedAddress
    ? `<dl class="facts">${view.list ? `<dt>${escapeHtml(t.listLabel)}</dt><dd>${escapeHtml(view.list)}</dd>` : ''}<dt>${escapeHtml(t.typedAddressLabel)}</dt><dd>${escapeHtml(view.typedAddress)}</dd></dl>\n`
    : '';
  const body = `${typed}${paragraph(t.thanksBody)}${paragraph(t.thanksNext(CONFIRM_LINK_DAYS))}${view.typedAddress ? paragraph(t.typoHint) : ''}`;
  return htmlPage(locale, t.thanksTitle, body, { list: view.typedAddress ? undefined : view.list, site: view.site });
}

/** `GET /confirm` of a pending request: the button (a scanner fetching the link changes nothing). */
export function confirmPage(locale: Locale, token: string, view: PageView = {}): string {
  const t = pageText(locale);
  const message = view.list ? t.confirmListBody(view.list) : t.confirmBody;
  return tokenFormPage(locale, t.confirmTitle, message, '/confirm', token, t.confirmButton, { ...view, site: undefined });
}

/** `GET /confirm` of a request cancelled through its own "not me": say so, and offer "it was me". */
export function itWasMePage(locale: Locale, token: string, view: PageView = {}): string {
  const t = pageText(locale);
  return tokenFormPage(locale, t.itWasMeTitle, t.itWasMeBody(listOf(locale, view)), '/confirm/it-was-me', token, t.itWasMeButton, {
    ...view,
    site: undefined,
  });
}

/** After `POST /confirm`: confirmed now, or already before. */
export function confirmedPage(locale: Locale, alreadyConfirmed: boolean, view: PageView = {}): string {
  const t = pageText(locale);
  const list = listOf(locale, view);
  const message = alreadyConfirmed ? t.alreadyConfirmedBody(list) : t.confirmedBody(list);
  return htmlPage(locale, t.confirmedTitle, `${paragraph(message)}${paragraph(t.confirmedNext)}`, view);
}

/**
 * The copy-paste signup form of a list (GET /lists/:slug/form): the address, the honeypot
 * (`website`, hidden by its own style attribute), and, when the list has a consent statement,
 * the statement beside a box that is not ticked and must be, with its version in `consent`.
 */
export function signupFormSnippet(locale: Locale, form: { action: string; listSlug: string; statement: ConsentStatement | null }): string {
  const t = stringsOf(locale).form;
  const id = `optin-${form.listSlug}`;
  const consent = form.statement ? `\n  ${consentFields(locale, form.statement, `${id}-consent`).replace('\n', '\n  ')}` : '';
  return `<form method="post" action="${h(form.action)}" lang="${h(locale)}">
  <input type="hidden" name="list" value="${h(form.listSlug)}">
  <input type="hidden" name="locale" value="${h(locale)}">
  <p><label for="${id}-email">${h(t.emailLabel)}</label> <input type="email" id="${id}-email" name="email" required autocomplete="email"></p>
  <p style="position:absolute;left:-10000px" aria-hidden="true"><label for="${id}-website">${h(t.honeypotLabel)}</label> <input type="text" id="${id}-website" name="website" tabindex="-1" autocomplete="off"></p>${consent}
  <p><button type="submit">${h(t.submit)}</button></p>
</form>
`;
}
