import { localize } from '../../platform/locales/localizedText.js';
import type { ListView } from './service.js';
import { type LocalizedText } from '../../platform/locales/localizedText.js';
import { DEFAULT_LOCALE, LOCALES } from '../../platform/locales/locale.js';
import { escapeHtml as h } from '../../platform/mail/templates.js';
import { csrfInput, layout, when, type PageSession } from '../../platform/http/console.js';

/*
 * The console's Lists pages: the table with counts and a create form, and one list's edit form.
 * The subscribers of a list are at /admin/lists/:slug (another page); names link there.
 */

const NOTICES: Record<string, string> = {
  created: 'The list was created.',
  saved: 'The list was saved.',
  archived: 'The list is archived: it takes no signups, and every opt-out from it still works.',
  unarchived: 'The list is open for signups again.',
  deleted: 'The list was deleted.',
};

const notice = (code: string | undefined) => (code && NOTICES[code] ? `<p class="notice">${h(NOTICES[code])}</p>` : '');

/** The text for one locale's box of a form: that locale's own words only (a plain string fills every box). */
const inLocale = (text: LocalizedText | null, locale: string) =>
  text === null ? '' : typeof text === 'string' ? text : (text[locale as keyof typeof text] ?? '');

function localizedInputs(
  field: string,
  label: string,
  value: LocalizedText | null,
  options: { textarea?: boolean; required?: boolean; hint?: string },
): string {
  const boxes = LOCALES.map((locale) => {
    const id = `${field}-${locale}`;
    const input = options.textarea
      ? `<textarea id="${id}" name="${field}.${locale}" rows="5" maxlength="20000">${h(inLocale(value, locale))}</textarea>`
      : `<input type="text" id="${id}" name="${field}.${locale}" value="${h(inLocale(value, locale))}" maxlength="2000"${options.required && locale === DEFAULT_LOCALE ? ' required' : ''}>`;
    return `<label for="${id}">${h(label)} (${h(locale)})</label>${input}`;
  }).join('\n');
  return `<fieldset><legend>${h(label)}</legend>${options.hint ? `<p class="muted">${h(options.hint)}</p>` : ''}${boxes}</fieldset>`;
}

const textInput = (field: string, label: string, value: string | null, type = 'text') =>
  `<label for="${field}">${h(label)}</label><input type="${type}" id="${field}" name="${field}" value="${h(value ?? '')}" maxlength="2048">`;

const checkbox = (field: string, label: string, checked: boolean) =>
  `<label class="check"><input type="checkbox" name="${field}" value="on"${checked ? ' checked' : ''}> ${h(label)}</label>`;

/** Every field of a list but its slug: the same boxes on the create and the edit form. */
function listFields(list: ListView | undefined): string {
  return `${localizedInputs('name', 'Name', list?.name ?? null, { required: true, hint: 'Fill in one language at least; the others fall back to it.' })}
${localizedInputs('description', 'Description', list?.description ?? null, { hint: 'Shown in the welcome email: what the list is.' })}
${localizedInputs('welcomeMessage', 'Welcome message (Markdown)', list?.welcomeMessage ?? null, { textarea: true, hint: 'Added to the welcome email: a download link, a code, what to expect and how often. Images must be https.' })}
${textInput('thankYouUrl', 'Thank-you URL (after signup; empty: the built-in page)', list?.thankYouUrl ?? null, 'url')}
${textInput('confirmedUrl', 'Confirmed URL (after confirming; empty: the built-in page)', list?.confirmedUrl ?? null, 'url')}
${textInput('fromName', 'Sender name (empty: the site’s)', list?.fromName ?? null)}
${textInput('fromEmail', 'Sender address (empty: the site’s; must be on the site’s sending domain)', list?.fromEmail ?? null, 'email')}
${checkbox('public', 'Public: offered on the preference page', list?.public ?? false)}
${checkbox('goodbyeEmail', 'Goodbye email: one short mail confirming an unsubscribe made on the page', list?.goodbyeEmail ?? false)}
${checkbox('remindUnconfirmed', 'One reminder to those who have not confirmed after CONFIRM_REMINDER_AFTER', list?.remindUnconfirmed ?? true)}`;
}

const listHref = (slug: string) => `/admin/lists/${encodeURIComponent(slug)}`;

/** /admin/lists: every list with its counts, and the form that creates one. */
export function listsPage(lists: readonly ListView[], session: PageSession, noticeCode?: string): string {
  const rows = lists
    .map(
      (list) => `<tr>
<td data-label="Name"><a href="${h(listHref(list.slug))}">${h(localize(list.name, DEFAULT_LOCALE))}</a>${list.archived ? ' <span class="muted">(archived)</span>' : ''}</td>
<td data-label="Slug"><code>${h(list.slug)}</code></td>
<td data-label="Pending">${list.counts.pending}</td>
<td data-label="Confirmed">${list.counts.confirmed}</td>
<td data-label="Unsubscribed">${list.counts.unsubscribed}</td>
<td data-label="Created">${when(list.createdAt)}</td>
<td data-label="Edit"><a href="${h(listHref(list.slug))}/edit" aria-label="Edit ${h(list.slug)}">Edit</a></td>
</tr>`,
    )
    .join('\n');
  return layout(
    'Lists',
    `${notice(noticeCode)}
<table><thead><tr><th>Name</th><th>Slug</th><th>Pending</th><th>Confirmed</th><th>Unsubscribed</th><th>Created</th><th>Edit</th></tr></thead><tbody>
${rows}
</tbody></table>
<h2>Create a list</h2>
<form method="post" action="/admin/lists">${csrfInput(session)}
<label for="slug">Slug (lower-case letters, digits and hyphens; fixed once created)</label><input type="text" id="slug" name="slug" required pattern="[a-z0-9\\-]{1,64}" maxlength="64">
${listFields(undefined)}
<p><button type="submit">Create the list</button></p>
</form>`,
    session,
  );
}

/** /admin/lists/:slug/edit: the list's fields, and archiving. */
export function listEditPage(list: ListView, session: PageSession, noticeCode?: string): string {
  const archive = list.archived
    ? `<p>This list is archived: it takes no signups, and every opt-out from it still works.</p><form method="post" action="${h(listHref(list.slug))}/archive">${csrfInput(session)}<input type="hidden" name="archived" value="false"><button type="submit" class="secondary">Unarchive</button></form>`
    : `<p class="muted">Archiving stops signups and keeps the list’s history; unsubscribe links keep working.</p><form method="post" action="${h(listHref(list.slug))}/archive">${csrfInput(session)}<input type="hidden" name="archived" value="true"><button type="submit" class="danger">Archive this list</button></form>`;
  return layout(
    `Edit ${localize(list.name, DEFAULT_LOCALE)}`,
    `${notice(noticeCode)}
<p>Slug <code>${h(list.slug)}</code> · ${list.counts.pending} pending · ${list.counts.confirmed} confirmed · ${list.counts.unsubscribed} unsubscribed · <a href="${h(listHref(list.slug))}">Subscribers</a></p>
<form method="post" action="${h(listHref(list.slug))}/edit">${csrfInput(session)}
${listFields(list)}
<p><button type="submit">Save</button></p>
</form>
<h2>Archive</h2>
${archive}
<p><a href="/admin/lists">Back to the lists</a></p>`,
    session,
  );
}
