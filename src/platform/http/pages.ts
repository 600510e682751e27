import { createHash } from 'node:crypto';
import { stringsOf, type Locale } from '../locales/locale.js';
import { escapeHtml } from '../mail/templates.js';
import type { Site } from '../../config.js';
import { maskEmail } from '../../logger.js';
import { isLocale } from '../locales/locale.js';

/**
 * Server-rendered pages for people (as opposed to JSON for programs). Every value that reaches
 * the markup goes through escapeHtml; the markup itself is written here and nowhere else. The
 * words are in src/locales, one file per locale.
 */
export function pageText(locale: Locale) {
  return stringsOf(locale).page;
}

/**
 * What a page may say besides its message: the list and the address it concerns (masked here,
 * so a link forwarded or a screen seen over a shoulder does not show it), and the site to go
 * back to, given only where the page ends the journey.
 */
export interface PageView {
  list?: string | undefined;
  /** The subscriber's address, in full: the page shows it masked (`a•••@example.com`). */
  address?: string | undefined;
  site?: Site | undefined;
}

/** `ann@example.com` → `a•••@example.com`: enough for a person to recognise their own address. */
export function maskAddress(address: string): string {
  return maskEmail(address, '•••');
}

/*
 * Colours are chosen for a contrast of at least 4.5:1 (WCAG AA) on their background, in light
 * and in dark mode; buttons are at least 48 px high, and choices stand 2rem apart so that a
 * thumb cannot press the wrong one.
 */
/** The stylesheet of every public page (preferencePages.ts adds its own beside it). */
export const STYLE = `:root{color-scheme:light dark;--bg:#f5f7fa;--card:#fff;--text:#1f2933;--muted:#52606d;--link:#1d4ed8;--primary:#1d4ed8;--on-primary:#fff;--secondary:#e4e7eb;--on-secondary:#1f2933;--line:#cbd2d9}
@media (prefers-color-scheme:dark){:root{--bg:#111827;--card:#1f2937;--text:#e5e7eb;--muted:#a3adbb;--link:#93c5fd;--primary:#2563eb;--on-primary:#fff;--secondary:#374151;--on-secondary:#f3f4f6;--line:#4b5563}}
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:1rem;line-height:1.5;background:var(--bg);color:var(--text);margin:0;padding:1.5rem .75rem}
main{max-width:34rem;margin:0 auto;background:var(--card);border-radius:8px;padding:1.5rem 1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12);overflow-wrap:anywhere}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}p{margin:0 0 1rem}a{color:var(--link)}main>:last-child{margin-bottom:0}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1.25rem;padding:.75rem 1rem;border-left:4px solid var(--line)}.facts dt{color:var(--muted)}.facts dd{margin:0;font-weight:600;min-width:0}
@media (max-width:30rem){.facts{grid-template-columns:1fr;row-gap:0}.facts dd+dt{margin-top:.5rem}}
form{margin:1.5rem 0}.choices{display:flex;flex-direction:column;gap:2rem}.choices p{margin:0 0 .5rem}
button{display:block;width:100%;min-height:3rem;font:inherit;font-weight:600;background:var(--primary);color:var(--on-primary);border:0;border-radius:6px;padding:.75rem 1.25rem;cursor:pointer}
button.secondary{background:var(--secondary);color:var(--on-secondary)}
label{display:block;margin:0 0 1rem}input[type=email]{display:block;width:100%;min-height:3rem;margin-top:.25rem;font:inherit;padding:.5rem .75rem;border:1px solid var(--muted);border-radius:6px;background:var(--card);color:var(--text)}
.agree{display:flex;gap:.75rem;align-items:flex-start}.agree input{width:1.5rem;height:1.5rem;margin:.1rem 0 0;flex:none}.agree label{margin:0}
.code{color:var(--muted);font-size:.875rem}.site{margin:1.5rem 0 0;padding-top:1rem;border-top:1px solid var(--line)}`;

/** The Content-Security-Policy source that allows exactly this inline stylesheet and no other. */
export const PAGE_STYLE_SOURCE = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** The document around a page: `head` and `main` must already be safe markup. */
export function htmlDocument(page: { lang: string; title: string; style: string; referrer: string; head?: string; main: string }): string {
  return `<!doctype html>
<html lang="${escapeHtml(page.lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="${escapeHtml(page.referrer)}">${page.head ?? ''}
<title>${escapeHtml(page.title)}</title>
<style>${page.style}</style>
</head>
<body><main>
${page.main}
</main></body>
</html>`;
}

export const paragraph = (text: string, className?: string) => `<p${className ? ` class="${className}"` : ''}>${escapeHtml(text)}</p>`;

/** The list and the (masked) address a page concerns, right under its title. */
function facts(locale: Locale, view: PageView): string {
  const t = pageText(locale);
  const rows: string[] = [];
  if (view.list) rows.push(`<dt>${escapeHtml(t.listLabel)}</dt><dd>${escapeHtml(view.list)}</dd>`);
  if (view.address) rows.push(`<dt>${escapeHtml(t.addressLabel)}</dt><dd>${escapeHtml(maskAddress(view.address))}</dd>`);
  return rows.length ? `<dl class="facts">${rows.join('')}</dl>\n` : '';
}

/** The way back to the site (SITE_URL), named by SITE_NAME or, without one, by its host. */
function backToSite(locale: Locale, site: Site | undefined): string {
  if (!site?.url) return '';
  return `\n<p class="site"><a href="${escapeHtml(site.url)}">${escapeHtml(pageText(locale).backToSite(site.name ?? site.host))}</a></p>`;
}

/** A whole HTML document; `body` must already be safe markup. */
export function htmlPage(locale: Locale, title: string, body: string, view: PageView = {}): string {
  return htmlDocument({
    lang: locale,
    title,
    style: STYLE,
    // same-origin, not none: our forms then post with their real Origin, which the cross-site
    // check of the person's forms requires ("null" is what another site can send); a token in
    // the URL still never leaves our origin.
    referrer: 'same-origin',
    main: `<h1>${escapeHtml(title)}</h1>\n${facts(locale, view)}${body}${backToSite(locale, view.site)}`,
  });
}

export function messagePage(locale: Locale, title: string, message: string, view?: PageView): string {
  return htmlPage(locale, title, paragraph(message), view);
}

/**
 * A page whose only action is a POST form carrying the token: fetching a link changes nothing.
 * The form carries the page's locale too, so the answer speaks the same language.
 */
export function tokenFormPage(
  locale: Locale,
  title: string,
  message: string,
  action: string,
  token: string,
  button: string,
  view?: PageView,
): string {
  return htmlPage(
    locale,
    title,
    `${paragraph(message)}
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<input type="hidden" name="locale" value="${escapeHtml(locale)}">
<button type="submit">${escapeHtml(button)}</button>
</form>`,
    view,
  );
}

export interface PageButton {
  label: string;
  /** Sent as a form field, so one form can offer several choices. */
  name?: string;
  value?: string;
  secondary?: boolean;
  /** A line above the button that says what it does differently from the one before. */
  hint?: string;
}

/**
 * A page whose buttons post to an action URL that already carries the token (the unsubscribe
 * link): the RFC 8058 one-click POST and the page's own form then hit the same handler. Several
 * buttons stand well apart, each with its own hint, so that no one presses the wrong one.
 */
export function actionPage(
  locale: Locale,
  title: string,
  message: string,
  action: string,
  buttons: readonly PageButton[],
  view?: PageView,
): string {
  const markup = buttons
    .map((b) => {
      const field = b.name ? ` name="${escapeHtml(b.name)}" value="${escapeHtml(b.value ?? '')}"` : '';
      const button = `<button type="submit"${field}${b.secondary ? ' class="secondary"' : ''}>${escapeHtml(b.label)}</button>`;
      return b.hint ? `<div>${paragraph(b.hint)}${button}</div>` : button;
    })
    .join('\n');
  return htmlPage(
    locale,
    title,
    `${paragraph(message)}
<form method="post" action="${escapeHtml(action)}">
<div class="choices">
${markup}
</div>
</form>`,
    view,
  );
}

/** The sentence of an error code in this locale: the page translates the code, never shows the (English) message. */
function errorText(locale: Locale, code: string): string {
  const errors: Record<string, string> = stringsOf(locale).errors;
  return Object.hasOwn(errors, code) && code !== 'fallback' ? errors[code]! : errors.fallback!;
}

export function errorPage(locale: Locale, code: string, view?: PageView): string {
  const t = pageText(locale);
  return htmlPage(locale, t.errorTitle, `${paragraph(errorText(locale, code))}${paragraph(t.errorCode(code), 'code')}`, view);
}

/*
 * The pages of the subscriber's journey, each saying what happened and what comes next. The
 * routes give them what they know: the list, the address, and the site (every page that ends
 * the journey links back to it).
 */

export const listOf = (locale: Locale, view: PageView) => view.list ?? pageText(locale).thisList;

/** A page's locale from a `locale` field (our own links and forms carry one), if it names one we speak. */
export function localeField(value: unknown): Locale | undefined {
  if (typeof value !== 'string') return undefined;
  const language = value.split('-')[0]!.toLowerCase();
  return isLocale(language) ? language : undefined;
}

export const FORM_STYLE = `fieldset{border:1px solid var(--line);border-radius:6px;margin:0 0 1.5rem;padding:.75rem 1rem}legend{font-weight:600;padding:0 .25rem}
.option{display:flex;gap:.75rem;align-items:flex-start;min-height:3rem;margin:0 0 .75rem}.option+.agree{margin:-.25rem 0 1rem 2.25rem}.option input{width:1.5rem;height:1.5rem;margin:.1rem 0 0;flex:none}.option span{display:block}
.state,.note{color:var(--muted);font-size:.9375rem}.blocked{border-left:4px solid var(--muted);padding:.5rem .75rem;margin:0 0 1rem}
textarea{display:block;width:100%;min-height:6rem;margin-top:.25rem;font:inherit;padding:.5rem .75rem;border:1px solid var(--muted);border-radius:6px;background:var(--card);color:var(--text)}
h2{font-size:1.2rem;margin:2rem 0 .75rem}ol.trail{list-style:none;padding:0;margin:0 0 1rem}ol.trail li{padding:.5rem 0;border-bottom:1px solid var(--line)}
.choices form{margin:0}`;

/** The Content-Security-Policy of these pages: the common stylesheet and this one, nothing else. */
export const FORM_CSP = [
  "default-src 'none'",
  `style-src ${PAGE_STYLE_SOURCE} 'sha256-${createHash('sha256').update(FORM_STYLE).digest('base64')}'`,
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function formPage(locale: Locale, title: string, body: string): string {
  return htmlDocument({
    lang: locale,
    title,
    style: STYLE,
    referrer: 'same-origin',
    head: `\n<style>${FORM_STYLE}</style>`,
    main: `<h1>${escapeHtml(title)}</h1>\n${body}`,
  });
}

export const formParagraph = (text: string, className?: string) => `<p${className ? ` class="${className}"` : ''}>${escapeHtml(text)}</p>`;
