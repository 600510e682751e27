import { createHash } from 'node:crypto';
import { escapeHtml } from '../mail/templates.js';
import { CSRF_FIELD } from './adminSession.js';
import { htmlDocument } from './pages.js';

/**
 * The admin console's pages: server-rendered, no script, one inline stylesheet allowed by its
 * hash in the Content-Security-Policy. Every value reaching the markup goes through `h`.
 */
const h = escapeHtml;

/*
 * Colours keep a contrast of at least 4.5:1 in light and in dark mode (muted text included).
 * Table cells wrap only between words (overflow-wrap, not word-break, so columns are never
 * squeezed narrower than their longest word), except cells of one long token (an address, a
 * URL, a user agent), which may break anywhere, as any cell may on a phone, where rows become cards.
 */
const STYLE = `:root{color-scheme:light dark;--bg:#f5f7fa;--card:#fff;--text:#1f2933;--muted:#52606d;--link:#1d4ed8;--primary:#1d4ed8;--on-primary:#fff;--secondary:#e4e7eb;--on-secondary:#1f2933;--danger:#b91c1c;--line:#e4e7eb;--field:#7b8794;--found:#047857;--missing:#b91c1c;--notice-bg:#ecfdf5;--notice-line:#a7f3d0;--problem-bg:#fef2f2;--problem-line:#fecaca}
@media (prefers-color-scheme:dark){:root{--bg:#111827;--card:#1f2937;--text:#e5e7eb;--muted:#a3adbb;--link:#93c5fd;--primary:#2563eb;--secondary:#374151;--on-secondary:#f3f4f6;--line:#374151;--field:#6b7280;--found:#34d399;--missing:#fca5a5;--notice-bg:#064e3b;--notice-line:#047857;--problem-bg:#450a0a;--problem-line:#991b1b}}
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:var(--bg);color:var(--text);margin:0;padding:1rem}
main{max-width:72rem;margin:0 auto;background:var(--card);border-radius:8px;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}a{color:var(--link)}
h1{font-size:1.4rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}h1,p,li{overflow-wrap:anywhere}
nav{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin-bottom:1rem;padding-bottom:.75rem;border-bottom:1px solid var(--line)}
form.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.5rem 0}nav form{margin:0}nav form.row{flex:1 1 22rem;flex-wrap:nowrap}nav form.row input{flex:1 1 auto;min-width:0}
input,select,button{font:inherit;font-size:1rem;padding:.45rem .6rem;border:1px solid var(--field);border-radius:6px;max-width:100%;background:var(--card);color:var(--text)}
input[type=search],input[type=email],input[type=text],input[type=url]{flex:1 1 14rem}textarea{font:inherit;font-size:1rem;padding:.45rem .6rem;border:1px solid var(--field);border-radius:6px;width:100%;background:var(--card);color:var(--text)}label{display:block;margin:.6rem 0 .2rem;font-weight:600}fieldset{border:1px solid var(--line);border-radius:6px;margin:.75rem 0}label.check{font-weight:400}button{background:var(--primary);color:var(--on-primary);border:0;cursor:pointer}
button.secondary{background:var(--secondary);color:var(--on-secondary)}button.danger{background:var(--danger);color:#fff}
table{width:100%;border-collapse:collapse;margin:.5rem 0}th,td{text-align:left;padding:.45rem;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
td form{display:flex;flex-wrap:wrap;gap:.3rem;margin:0}td input{flex:1 1 8rem}.muted{color:var(--muted)}
code{word-break:break-all}time{white-space:nowrap}td.token{overflow-wrap:anywhere}.found{color:var(--found)}.missing,.different{color:var(--missing)}.unchecked{color:var(--muted)}
iframe{max-width:100%;border:1px solid var(--line);background:#fff}textarea{font:inherit;width:100%;max-width:100%;padding:.45rem .6rem;border:1px solid var(--field);border-radius:6px;background:var(--card);color:var(--text)}
.notice{background:var(--notice-bg);border:1px solid var(--notice-line);padding:.6rem;border-radius:6px}.problem{background:var(--problem-bg);border:1px solid var(--problem-line);padding:.6rem;border-radius:6px}
@media (max-width:40rem){thead{display:none}tr{display:block;border-bottom:2px solid var(--field);padding:.3rem 0}td{display:block;border:0;padding:.2rem .3rem;overflow-wrap:anywhere}td::before{content:attr(data-label) ": ";font-weight:600}}`;

/** The Content-Security-Policy of every console page: nothing but this stylesheet and same-origin forms. */
export const ADMIN_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface PageSession {
  csrf: string;
}

/** The hidden CSRF field every console form posts. */
export const csrfInput = (session: PageSession) => `<input type="hidden" name="${CSRF_FIELD}" value="${h(session.csrf)}">`;

/** A date and time, kept on one line (a date cut at its hyphens is hard to read). */
export const when = (iso: string | null) => (iso ? `<time datetime="${h(iso)}">${h(iso.slice(0, 16).replace('T', ' '))} UTC</time>` : '');

/** A console page: the signed-in navigation, the title, the body (and `head` extras such as a meta refresh). */
export function layout(title: string, body: string, session?: PageSession, head = ''): string {
  const nav = session
    ? `<nav><strong>optin admin</strong><a href="/admin">Dashboard</a><a href="/admin/lists">Lists</a><a href="/admin/broadcasts">Broadcasts</a><a href="/admin/suppressions">Suppression list</a><a href="/admin/webhooks">Webhooks</a><a href="/admin/queues">Queue</a><a href="/admin/sending">Sending setup</a>
<form method="get" action="/admin/contacts" class="row"><input type="email" name="email" required placeholder="contact@example.com" aria-label="Contact address"><button type="submit" class="secondary">View contact</button></form>
<form method="post" action="/admin/sign-out">${csrfInput(session)}<button type="submit" class="secondary">Sign out</button></form></nav>`
    : '';
  return htmlDocument({
    lang: 'en',
    title: `${title} · optin admin`,
    style: STYLE,
    // same-origin, not none: without a referrer policy allowing it, browsers send "Origin: null" on our own forms.
    referrer: 'same-origin',
    head: `\n<meta name="robots" content="noindex">${head}`,
    main: `${nav}<h1>${h(title)}</h1>\n${body}`,
  });
}

export function signInPage(problem?: string): string {
  return layout(
    'Sign in',
    `${problem ? `<p class="problem">${h(problem)}</p>` : ''}
<form method="post" action="/admin/sign-in" class="row">
<input type="password" name="token" required autocomplete="current-password" placeholder="Admin token" aria-label="Admin token">
<button type="submit">Sign in</button>
</form>`,
  );
}

export function adminErrorPage(code: string, message: string, session?: PageSession): string {
  return layout(
    'Something is not right',
    `<p class="problem">${h(message)}</p><p class="muted">${h(code)}</p><p><a href="/admin/suppressions">Back to the suppression list</a></p>`,
    session,
  );
}

export function messagePage(title: string, message: string, session: PageSession): string {
  return layout(title, `<p class="notice">${h(message)}</p><p><a href="/admin/suppressions">Back to the suppression list</a></p>`, session);
}

/** The <option>s of a select, one of them selected. Shared with the dashboard's pages. */
export const options = (values: readonly string[], selected: string | undefined, labels: Record<string, string> = {}) =>
  values.map((v) => `<option value="${h(v)}"${v === selected ? ' selected' : ''}>${h(labels[v] ?? v)}</option>`).join('');
