import { createHash } from 'node:crypto';
import { listName, localize, decodeLocalizedText } from '../../platform/locales/localizedText.js';
import { stringsOf, type Locale } from '../../platform/locales/locale.js';
import { escapeHtml } from '../../platform/mail/templates.js';
import type { ContactRecord } from '../subscribers/contactRecord.js';
import type { ConsentStatement } from '../consent/service.js';
import type { PreferenceChange, PreferenceView } from './service.js';
import { LEAVING_REASONS, REASON_COMMENT_MAX } from '../optout/reasons.js';
import { consentFields, htmlDocument, maskAddress, PAGE_STYLE_SOURCE, STYLE } from '../../platform/http/pages.js';

/**
 * The preference centre's pages, the "why are you leaving?" form and the signup form snippet.
 * Same rules as pages.ts: every value goes through `h`, no script, mobile first; the few rules
 * these pages add sit in a second stylesheet, allowed by its own hash (PREFERENCES_CSP).
 */
const h = escapeHtml;

const EXTRA_STYLE = `fieldset{border:1px solid var(--line);border-radius:6px;margin:0 0 1.5rem;padding:.75rem 1rem}legend{font-weight:600;padding:0 .25rem}
.option{display:flex;gap:.75rem;align-items:flex-start;min-height:3rem;margin:0 0 .75rem}.option input{width:1.5rem;height:1.5rem;margin:.1rem 0 0;flex:none}.option span{display:block}
.state,.note{color:var(--muted);font-size:.9375rem}.blocked{border-left:4px solid var(--muted);padding:.5rem .75rem;margin:0 0 1rem}
textarea{display:block;width:100%;min-height:6rem;margin-top:.25rem;font:inherit;padding:.5rem .75rem;border:1px solid var(--muted);border-radius:6px;background:var(--card);color:var(--text)}
h2{font-size:1.2rem;margin:2rem 0 .75rem}ol.trail{list-style:none;padding:0;margin:0 0 1rem}ol.trail li{padding:.5rem 0;border-bottom:1px solid var(--line)}
.choices form{margin:0}`;

/** The Content-Security-Policy of these pages: the common stylesheet and this one, nothing else. */
export const PREFERENCES_CSP = [
  "default-src 'none'",
  `style-src ${PAGE_STYLE_SOURCE} 'sha256-${createHash('sha256').update(EXTRA_STYLE).digest('base64')}'`,
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

function page(locale: Locale, title: string, body: string): string {
  return htmlDocument({ lang: locale, title, style: STYLE, referrer: 'no-referrer', head: `\n<style>${EXTRA_STYLE}</style>`, main: `<h1>${h(title)}</h1>\n${body}` });
}

const p = (text: string, className?: string) => `<p${className ? ` class="${className}"` : ''}>${h(text)}</p>`;

/** `203.0.113.7` → `203.0.113.•`, `2001:db8:1:2::7` → `2001:db8:1:•`: enough to recognise a network, not a device. */
export function maskIp(ip: string | null): string | null {
  if (!ip) return null;
  const v4 = /^(?:::ffff:)?(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$/.exec(ip);
  if (v4) return `${v4[1]}.•`;
  return `${ip.split(':').slice(0, 3).join(':')}:•`;
}

export interface PreferencesPageData {
  locale: Locale;
  view: PreferenceView;
  record: ContactRecord;
  /** The links of this page's forms, each carrying the token. */
  actions: { save: string; export: string; erase: string };
  /** OPTOUT_RETENTION in days, and when this person's data will be minimised (null: not due). */
  retentionDays: number;
  minimizesAt: number | null;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** GET /preferences: every list with a box, the "everything" button, and "Your data". */
export function preferencesPage(data: PreferencesPageData): string {
  const { locale, view, record, actions } = data;
  const t = stringsOf(locale).preferences;
  const names = new Map(view.lists.map(({ list }) => [list.slug, listName(list, locale)]));
  const blocked = view.addressBlockedBy ? `<div class="blocked"><p><strong>${h(t.blockedTitle)}</strong></p>${p(t.blocked[view.addressBlockedBy] ?? t.blocked.manual!)}</div>\n` : '';
  const options = view.lists
    .map(({ list, state, blockedBy }) => {
      const id = `list-${list.id}`;
      const description = list.description ? `<span class="note">${h(localize(decodeLocalizedText(list.description), locale))}</span>` : '';
      const status = `<span class="state">${h(t.stateLine(t.state[state] ?? state))}</span>`;
      const closed = blockedBy !== null && state !== 'confirmed';
      const note = closed && !view.addressBlockedBy ? `<span class="state">${h(t.blocked[blockedBy] ?? t.blocked.manual!)}</span>` : '';
      return `<div class="option"><input type="checkbox" id="${id}" name="lists" value="${h(list.slug)}"${state === 'confirmed' ? ' checked' : ''}${closed ? ' disabled' : ''}><label for="${id}"><span><strong>${h(names.get(list.slug) ?? list.name)}</strong></span>${description}${status}${note}</label></div>`;
    })
    .join('\n');
  const lists = view.lists.length
    ? `<form method="post" action="${h(actions.save)}">
<fieldset><legend>${h(t.listsLegend)}</legend>
${options}
</fieldset>
<div class="choices"><button type="submit">${h(t.save)}</button>
<div>${p(t.unsubscribeAllHint)}<button type="submit" name="all" value="1" class="secondary">${h(t.unsubscribeAll)}</button></div></div>
</form>`
    : p(t.noLists);
  return page(locale, t.title, `<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(maskAddress(view.contact.email))}</dd></dl>\n${blocked}${p(t.intro)}\n${lists}\n${dataSection(data, names)}`);
}

function dataSection(data: PreferencesPageData, names: Map<string, string>): string {
  const { locale, record, actions } = data;
  const t = stringsOf(locale).preferences;
  const states = record.subscriptions.map((s) => `<dt>${h(names.get(s.list) ?? s.listName)}</dt><dd>${h(t.state[s.status] ?? s.status)}</dd>`).join('');
  const trail = record.consent.length
    ? `<ol class="trail">${record.consent
        .map((e) => {
          const parts = [e.at ? t.dateTime(e.at.slice(0, 10), e.at.slice(11, 16)) : '', e.list ? (names.get(e.list) ?? e.list) : t.everyList, t.action[e.action] ?? e.action];
          const ip = maskIp(e.ip);
          const from = [e.source, ip ? t.ipLabel(ip) : null].filter(Boolean).join(' · ');
          return `<li>${h(parts.join(' · '))}${from ? `<br><span class="note">${h(from)}</span>` : ''}</li>`;
        })
        .join('')}</ol>`
    : p(t.trailEmpty);
  const retention = data.retentionDays > 0 ? t.retention(data.retentionDays) : t.retentionNow;
  const due = record.minimizedAt ? p(t.minimized) : data.minimizesAt !== null ? p(t.minimizesOn(day(data.minimizesAt))) : '';
  return `<h2>${h(t.dataTitle)}</h2>
${p(t.dataIntro)}
<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(record.email)}</dd><dt>${h(t.nameLabel)}</dt><dd>${h(record.name ?? t.noName)}</dd>${states}</dl>
<h2>${h(t.trailTitle)}</h2>
${trail}
<h2>${h(t.useTitle)}</h2>
${p(t.use)}
${p(retention)}
${due}<div class="choices">
<form method="post" action="${h(actions.export)}"><button type="submit" class="secondary">${h(t.download)}</button></form>
<form method="post" action="${h(actions.erase)}"><p>${h(t.eraseHint)}</p><button type="submit" class="secondary">${h(t.erase)}</button></form>
</div>`;
}

/** The optional "why are you leaving?" form; `lists` are the slugs it is about (the preference centre's). */
export function reasonsForm(locale: Locale, action: string, lists: readonly string[] = []): string {
  const t = stringsOf(locale).reasons;
  const radios = LEAVING_REASONS.map(
    (reason) => `<div class="option"><input type="radio" id="reason-${reason}" name="reason" value="${reason}"><label for="reason-${reason}">${h(t.choices[reason]!)}</label></div>`,
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

/** After a preference form: what changed, what could not, the reasons form when something was left. */
export function savedPage(locale: Locale, change: PreferenceChange, back: string, reasonAction: string): string {
  const t = stringsOf(locale).preferences;
  const names = (lists: PreferenceChange['subscribed']) => lists.map((l) => listName(l, locale)).join(', ');
  const lines: string[] = [];
  if (change.all) lines.push(p(t.unsubscribedAll));
  else {
    if (change.subscribed.length) lines.push(p(t.subscribedTo(names(change.subscribed))));
    if (change.unsubscribed.length) lines.push(p(t.unsubscribedFrom(names(change.unsubscribed))));
  }
  if (change.refused.length) lines.push(p(t.notChanged(names(change.refused))));
  if (lines.length === 0) lines.push(p(t.savedNothing));
  const left = change.unsubscribed.map((l) => l.slug);
  const reasons = left.length ? reasonsForm(locale, reasonAction, left) : '';
  return page(locale, t.savedTitle, `<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(maskAddress(change.view.contact.email))}</dd></dl>\n${lines.join('\n')}\n${reasons}\n<p><a href="${h(back)}">${h(t.backToPreferences)}</a></p>`);
}

/** "Erase everything?": one POST button, no typing; says before what stays. */
export function eraseConfirmPage(locale: Locale, action: string, email: string, back: string): string {
  const t = stringsOf(locale).preferences;
  return page(
    locale,
    t.eraseTitle,
    `<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(maskAddress(email))}</dd></dl>
${p(t.eraseBody)}
<form method="post" action="${h(action)}"><input type="hidden" name="confirm" value="yes"><button type="submit">${h(t.eraseConfirm)}</button></form>
<p><a href="${h(back)}">${h(t.backToPreferences)}</a></p>`,
  );
}

export function erasedPage(locale: Locale): string {
  const t = stringsOf(locale).preferences;
  return page(locale, t.erasedTitle, p(t.erasedBody));
}

export function reasonsThanksPage(locale: Locale): string {
  const t = stringsOf(locale).reasons;
  return page(locale, t.thanksTitle, p(t.thanksBody));
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
