import { createHash } from 'node:crypto';
import { escapeHtml } from '../mail/templates.js';
import type { Locale } from '../mail/locale.js';

/**
 * Server-rendered pages for people (as opposed to JSON for programs). Every value that reaches
 * the markup goes through escapeHtml; the markup itself is written here and nowhere else.
 */
const text = {
  en: {
    thanksTitle: 'Check your inbox',
    thanksBody: 'If this address can receive mail from us, a confirmation email is on its way. Open it and press the button to confirm your subscription.',
    confirmTitle: 'Confirm your subscription',
    confirmBody: 'Press the button to confirm that you want to receive this list.',
    confirmButton: 'Confirm my subscription',
    confirmedTitle: 'You are subscribed',
    confirmedBody: (list: string) => `Thank you: your subscription to ${list} is confirmed.`,
    alreadyConfirmedBody: (list: string) => `Your subscription to ${list} was already confirmed. Nothing else to do.`,
    expiredTitle: 'This link has expired',
    expiredBody: 'This confirmation link is no longer valid. Sign up again and we will send you a new one.',
    expiredElsewhereBody: 'This confirmation link is no longer valid. Please sign up again where you first did, and we will send you a new one.',
    emailLabel: 'Email',
    signupAgainButton: 'Send me a new confirmation email',
    errorTitle: 'Something is not right',
    back: 'Back',
    unsubscribeTitle: 'Unsubscribe',
    unsubscribeBody: (list: string) => `Press the button to stop receiving ${list} at this address.`,
    unsubscribeButton: (list: string) => `Unsubscribe from ${list}`,
    unsubscribeAllButton: 'Unsubscribe from all lists',
    notMeTitle: 'Not you?',
    notMeBody: (list: string) => `Someone asked to receive ${list} at this address. If it was not you, press the button: the request is cancelled and this address will never be mailed again.`,
    notMeButton: 'It was not me: never mail this address',
    unsubscribedTitle: 'You are unsubscribed',
    unsubscribedBody: (list: string) => `This address will no longer receive ${list}.`,
    unsubscribedAllBody: 'This address will no longer receive any mail from us.',
    resubscribeButton: 'I unsubscribed by mistake — resubscribe',
    resubscribedTitle: 'Welcome back',
    resubscribedBody: (list: string) => `Your subscription to ${list} is active again.`,
    resubscribedPendingBody: (list: string) => `We sent a new confirmation email for ${list}: open it and press the button to confirm.`,
  },
  fr: {
    thanksTitle: 'Consultez votre boîte de réception',
    thanksBody: 'Si cette adresse peut recevoir nos messages, un email de confirmation est en route. Ouvrez-le et appuyez sur le bouton pour confirmer votre inscription.',
    confirmTitle: 'Confirmez votre inscription',
    confirmBody: 'Appuyez sur le bouton pour confirmer que vous souhaitez recevoir cette liste.',
    confirmButton: 'Confirmer mon inscription',
    confirmedTitle: 'Vous êtes inscrit',
    confirmedBody: (list: string) => `Merci : votre inscription à ${list} est confirmée.`,
    alreadyConfirmedBody: (list: string) => `Votre inscription à ${list} était déjà confirmée. Rien d’autre à faire.`,
    expiredTitle: 'Ce lien a expiré',
    expiredBody: 'Ce lien de confirmation n’est plus valable. Inscrivez-vous à nouveau et nous vous en enverrons un autre.',
    expiredElsewhereBody: 'Ce lien de confirmation n’est plus valable. Inscrivez-vous à nouveau là où vous l’aviez fait, et nous vous en enverrons un autre.',
    emailLabel: 'Adresse email',
    signupAgainButton: 'M’envoyer un nouvel email de confirmation',
    errorTitle: 'Quelque chose ne va pas',
    back: 'Retour',
    unsubscribeTitle: 'Se désinscrire',
    unsubscribeBody: (list: string) => `Appuyez sur le bouton pour ne plus recevoir ${list} à cette adresse.`,
    unsubscribeButton: (list: string) => `Me désinscrire de ${list}`,
    unsubscribeAllButton: 'Me désinscrire de toutes les listes',
    notMeTitle: 'Ce n’était pas vous ?',
    notMeBody: (list: string) => `Quelqu’un a demandé à recevoir ${list} à cette adresse. Si ce n’était pas vous, appuyez sur le bouton : la demande est annulée et cette adresse ne recevra plus jamais de message.`,
    notMeButton: 'Ce n’était pas moi : ne plus écrire à cette adresse',
    unsubscribedTitle: 'Vous êtes désinscrit',
    unsubscribedBody: (list: string) => `Cette adresse ne recevra plus ${list}.`,
    unsubscribedAllBody: 'Cette adresse ne recevra plus aucun message de notre part.',
    resubscribeButton: 'Je me suis désinscrit par erreur — me réinscrire',
    resubscribedTitle: 'Content de vous revoir',
    resubscribedBody: (list: string) => `Votre inscription à ${list} est de nouveau active.`,
    resubscribedPendingBody: (list: string) => `Nous avons envoyé un nouvel email de confirmation pour ${list} : ouvrez-le et appuyez sur le bouton pour confirmer.`,
  },
} as const;

export function pageText(locale: Locale) {
  return text[locale];
}

const STYLE = `body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:#f5f7fa;color:#1f2933;margin:0;padding:2rem 1rem}
main{max-width:32rem;margin:0 auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.5rem;margin-top:0}button{font:inherit;font-size:1rem;background:#2563eb;color:#fff;border:0;border-radius:6px;padding:.75rem 1.25rem;cursor:pointer}
button.secondary{background:#e4e7eb;color:#1f2933}form{margin:1.5rem 0 0}.code{color:#7b8794;font-size:.85rem}`;

/** The Content-Security-Policy source that allows exactly this inline stylesheet and no other. */
export const PAGE_STYLE_SOURCE = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** The document around a page: `head` and `main` must already be safe markup. */
export function htmlDocument(page: { lang: string; title: string; style: string; referrer: string; head?: string; main: string }): string {
  return `<!doctype html>
<html lang="${escapeHtml(page.lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="${escapeHtml(page.referrer)}">${page.head ?? ''}
<title>${escapeHtml(page.title)}</title>
<style>${page.style}</style>
</head>
<body><main>
${page.main}
</main></body>
</html>`;
}

/** A whole HTML document; `body` must already be safe markup. */
export function htmlPage(locale: Locale, title: string, body: string): string {
  return htmlDocument({ lang: locale, title, style: STYLE, referrer: 'no-referrer', main: `<h1>${escapeHtml(title)}</h1>\n${body}` });
}

export function messagePage(locale: Locale, title: string, message: string): string {
  return htmlPage(locale, title, `<p>${escapeHtml(message)}</p>`);
}

/** A page whose only action is a POST form carrying the token: fetching a link changes nothing. */
export function tokenFormPage(locale: Locale, title: string, message: string, action: string, token: string, button: string): string {
  return htmlPage(
    locale,
    title,
    `<p>${escapeHtml(message)}</p>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<button type="submit">${escapeHtml(button)}</button>
</form>`,
  );
}

export interface PageButton {
  label: string;
  /** Sent as a form field, so one form can offer several choices. */
  name?: string;
  value?: string;
  secondary?: boolean;
}

/**
 * A page whose buttons post to an action URL that already carries the token (the unsubscribe
 * link): the RFC 8058 one-click POST and the page's own form then hit the same handler.
 */
export function actionPage(locale: Locale, title: string, message: string, action: string, buttons: readonly PageButton[]): string {
  const markup = buttons
    .map((b) => {
      const field = b.name ? ` name="${escapeHtml(b.name)}" value="${escapeHtml(b.value ?? '')}"` : '';
      return `<button type="submit"${field}${b.secondary ? ' class="secondary"' : ''}>${escapeHtml(b.label)}</button>`;
    })
    .join('\n');
  return htmlPage(locale, title, `<p>${escapeHtml(message)}</p>
<form method="post" action="${escapeHtml(action)}">
${markup}
</form>`);
}

/**
 * The answer to a lapsed confirm link: a form that signs up again (to `POST /subscribe`, as a
 * site's own form would), filled in when the request is still known. `form` false (a signup
 * needs a human check this page cannot carry): only the advice to sign up where they did.
 */
export function signupAgainPage(locale: Locale, again: { email: string; listSlug: string } | null, form: boolean): string {
  const t = pageText(locale);
  if (!form) return messagePage(locale, t.expiredTitle, t.expiredElsewhereBody);
  return htmlPage(
    locale,
    t.expiredTitle,
    `<p>${escapeHtml(t.expiredBody)}</p>
<form method="post" action="/subscribe">
<p><label>${escapeHtml(t.emailLabel)} <input type="email" name="email" value="${escapeHtml(again?.email ?? '')}" required autocomplete="email"></label></p>
<input type="hidden" name="list" value="${escapeHtml(again?.listSlug ?? 'default')}">
<input type="hidden" name="locale" value="${escapeHtml(locale)}">
<button type="submit">${escapeHtml(t.signupAgainButton)}</button>
</form>`,
  );
}

export function errorPage(locale: Locale, code: string, message: string): string {
  return htmlPage(locale, pageText(locale).errorTitle, `<p>${escapeHtml(message)}</p><p class="code">${escapeHtml(code)}</p>`);
}
