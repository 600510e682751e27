import { DATA_LINK_TTL_MS } from '../../platform/http/tokens.js';
import { formPage, formParagraph } from '../../platform/http/pages.js';
import { reasonsForm } from '../optout/index.js';
import { listName, localize, decodeLocalizedText } from '../../platform/locales/localizedText.js';
import { stringsOf, type Locale } from '../../platform/locales/locale.js';
import { escapeHtml } from '../../platform/mail/templates.js';
import type { ContactRecord } from '../subscribers/index.js';
import type { PreferenceChange, PreferenceView } from './service.js';
import { maskAddress } from '../../platform/http/pages.js';

/**
 * The preference centre's pages, the "why are you leaving?" form and the signup form snippet.
 * Same rules as pages.ts: every value goes through `h`, no script, mobile first; the few rules
 * these pages add sit in a second stylesheet, allowed by its own hash (FORM_CSP).
 */
const h = escapeHtml;

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
  const { locale, view, actions } = data;
  const t = stringsOf(locale).preferences;
  const names = new Map(view.lists.map(({ list }) => [list.slug, listName(list, locale)]));
  const blocked = view.addressBlockedBy
    ? `<div class="blocked"><p><strong>${h(t.blockedTitle)}</strong></p>${formParagraph(t.blocked[view.addressBlockedBy] ?? t.blocked.manual!)}</div>\n`
    : '';
  const options = view.lists
    .map(({ list, state, blockedBy, statement }) => {
      const id = `list-${list.id}`;
      const description = list.description ? `<span class="note">${h(localize(decodeLocalizedText(list.description), locale))}</span>` : '';
      const status = `<span class="state">${h(t.stateLine(t.state[state] ?? state))}</span>`;
      const closed = blockedBy !== null && state !== 'confirmed';
      const note = closed && !view.addressBlockedBy ? `<span class="state">${h(t.blocked[blockedBy] ?? t.blocked.manual!)}</span>` : '';
      const option = `<div class="option"><input type="checkbox" id="${id}" name="lists" value="${h(list.slug)}"${state === 'confirmed' ? ' checked' : ''}${closed ? ' disabled' : ''}><label for="${id}"><span><strong>${h(names.get(list.slug) ?? list.name)}</strong></span>${description}${status}${note}</label></div>`;
      // Joining shows the list's statement beside a box of its own, never ticked: consent is given, not assumed.
      const consent =
        statement && state !== 'confirmed' && !closed
          ? `\n<p class="agree"><input type="checkbox" id="consent-${list.id}" name="consent" value="${h(statement.version)}"><label for="consent-${list.id}">${h(localize(statement.text, locale))}</label></p>`
          : '';
      return option + consent;
    })
    .join('\n');
  const lists = view.lists.length
    ? `<form method="post" action="${h(actions.save)}">
<fieldset><legend>${h(t.listsLegend)}</legend>
${options}
</fieldset>
<div class="choices"><button type="submit">${h(t.save)}</button>
<div>${formParagraph(t.unsubscribeAllHint)}<button type="submit" name="all" value="1" class="secondary">${h(t.unsubscribeAll)}</button></div></div>
</form>`
    : formParagraph(t.noLists);
  return formPage(
    locale,
    t.title,
    `<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(maskAddress(view.contact.email))}</dd></dl>\n${blocked}${formParagraph(t.intro)}\n${lists}\n${dataSection(data, names)}`,
  );
}

function dataSection(data: PreferencesPageData, names: Map<string, string>): string {
  const { locale, record, actions } = data;
  const t = stringsOf(locale).preferences;
  const states = record.subscriptions
    .map((s) => `<dt>${h(names.get(s.list) ?? s.listName)}</dt><dd>${h(t.state[s.status] ?? s.status)}</dd>`)
    .join('');
  const trail = record.consent.length
    ? `<ol class="trail">${record.consent
        .map((e) => {
          const parts = [
            e.at ? t.dateTime(e.at.slice(0, 10), e.at.slice(11, 16)) : '',
            e.list ? (names.get(e.list) ?? e.list) : t.everyList,
            t.action[e.action] ?? e.action,
          ];
          const ip = maskIp(e.ip);
          const from = [e.source, ip ? t.ipLabel(ip) : null].filter(Boolean).join(' · ');
          return `<li>${h(parts.join(' · '))}${from ? `<br><span class="note">${h(from)}</span>` : ''}</li>`;
        })
        .join('')}</ol>`
    : formParagraph(t.trailEmpty);
  const retention = data.retentionDays > 0 ? t.retention(data.retentionDays) : t.retentionNow;
  const due = record.minimizedAt
    ? formParagraph(t.minimized)
    : data.minimizesAt !== null
      ? formParagraph(t.minimizesOn(day(data.minimizesAt)))
      : '';
  return `<h2>${h(t.dataTitle)}</h2>
${formParagraph(t.dataIntro)}
<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(record.email)}</dd><dt>${h(t.nameLabel)}</dt><dd>${h(record.name ?? t.noName)}</dd>${states}</dl>
<h2>${h(t.trailTitle)}</h2>
${trail}
<h2>${h(t.useTitle)}</h2>
${formParagraph(t.use)}
${formParagraph(retention)}
${due}<div class="choices">
<form method="post" action="${h(actions.export)}"><button type="submit" class="secondary">${h(t.download)}</button></form>
<form method="post" action="${h(actions.erase)}"><p>${h(t.eraseHint)}</p><button type="submit" class="secondary">${h(t.erase)}</button></form>
</div>`;
}

/** After a preference form: what changed, what could not, the reasons form when something was left. */
export function savedPage(locale: Locale, change: PreferenceChange, back: string, reasonAction: string): string {
  const t = stringsOf(locale).preferences;
  const names = (lists: PreferenceChange['subscribed']) => lists.map((l) => listName(l, locale)).join(', ');
  const lines: string[] = [];
  if (change.all) lines.push(formParagraph(t.unsubscribedAll));
  else {
    if (change.subscribed.length) lines.push(formParagraph(t.subscribedTo(names(change.subscribed))));
    if (change.unsubscribed.length) lines.push(formParagraph(t.unsubscribedFrom(names(change.unsubscribed))));
  }
  if (change.refused.length) lines.push(formParagraph(t.notChanged(names(change.refused))));
  if (change.needsConsent.length) lines.push(formParagraph(t.consentNeeded(names(change.needsConsent))));
  if (change.held.length) lines.push(formParagraph(t.notJoinedNow(names(change.held))));
  if (lines.length === 0) lines.push(formParagraph(t.savedNothing));
  const left = change.unsubscribed.map((l) => l.slug);
  const reasons = left.length ? reasonsForm(locale, reasonAction, left) : '';
  return formPage(
    locale,
    t.savedTitle,
    `<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(maskAddress(change.view.contact.email))}</dd></dl>\n${lines.join('\n')}\n${reasons}\n<p><a href="${h(back)}">${h(t.backToPreferences)}</a></p>`,
  );
}

/** "Erase everything?": one POST button, no typing; says before what stays. */
/**
 * "Erase everything?": from the preference centre (`back` set) its button asks for the mailed
 * link; from that link (`back` null) it erases.
 */
export function eraseConfirmPage(locale: Locale, action: string, email: string, back: string | null): string {
  const t = stringsOf(locale).preferences;
  return formPage(
    locale,
    t.eraseTitle,
    `<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(maskAddress(email))}</dd></dl>
${formParagraph(t.eraseBody)}${back === null ? '' : `\n${formParagraph(t.eraseByMail)}`}
<form method="post" action="${h(action)}"><input type="hidden" name="confirm" value="yes"><button type="submit">${h(back === null ? t.eraseConfirm : t.eraseSendLink)}</button></form>${back === null ? '' : `\n<p><a href="${h(back)}">${h(t.backToPreferences)}</a></p>`}`,
  );
}

/** After asking for a link to erase or download: where it went, what it does, for how long (or why none was sent). */
export function linkSentPage(locale: Locale, action: 'erase' | 'export', email: string, outcome: 'sent' | 'refused', back: string): string {
  const t = stringsOf(locale).preferences;
  const said = outcome === 'sent' ? t.linkSent[action]!(maskAddress(email), Math.round(DATA_LINK_TTL_MS / 60_000)) : t.linkRefused;
  return formPage(
    locale,
    outcome === 'sent' ? t.linkSentTitle : action === 'erase' ? t.eraseTitle : t.downloadTitle,
    `${formParagraph(said)}\n<p><a href="${h(back)}">${h(t.backToPreferences)}</a></p>`,
  );
}

/** The mailed download link's page: one button, since fetching a URL must not count as the download. */
export function downloadPage(locale: Locale, action: string, email: string): string {
  const t = stringsOf(locale).preferences;
  return formPage(
    locale,
    t.downloadTitle,
    `<dl class="facts"><dt>${h(stringsOf(locale).page.addressLabel)}</dt><dd>${h(maskAddress(email))}</dd></dl>
${formParagraph(t.downloadBody)}
<form method="post" action="${h(action)}"><button type="submit">${h(t.download)}</button></form>`,
  );
}

export function erasedPage(locale: Locale): string {
  const t = stringsOf(locale).preferences;
  return formPage(locale, t.erasedTitle, formParagraph(t.erasedBody));
}
