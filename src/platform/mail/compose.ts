import type { Config, Site } from '../../config.js';
import type { MessageKind } from '../db/schema.js';
import { createTestCopyToken, createToken, CONFIRM_TOKEN_TTL_MS, DATA_LINK_TTL_MS, type TestCopyClaims } from '../http/tokens.js';
import { stringsOf, type Locale } from '../locales/locale.js';
import { senderDomain } from './sender.js';
import { renderWelcomeMessage } from './welcomeMessage.js';
import { escapeHtml, renderMessage, type Templates } from './templates.js';
import type { OutgoingMessage } from './transport.js';

export interface MessageContext {
  publicUrl: string;
  mailFrom: string;
  replyTo?: string | undefined;
  /** Named in every mail: who is writing, and where the person asked for it. */
  site: Site;
  secrets: readonly string[];
  templates: Templates;
}

/** What composing a message needs from the configuration. */
export function messageContext(
  config: Pick<Config, 'publicUrl' | 'mailFrom' | 'replyTo' | 'site' | 'secrets'>,
  templates: Templates,
): MessageContext {
  return {
    publicUrl: config.publicUrl,
    mailFrom: config.mailFrom,
    replyTo: config.replyTo,
    site: config.site,
    secrets: config.secrets,
    templates,
  };
}

/** How long a confirmation link lasts, in the days the mail and pages speak of. */
export const CONFIRM_LINK_DAYS = Math.round(CONFIRM_TOKEN_TTL_MS / 86_400_000);

export interface MessageSubject {
  outboxId: string;
  kind: MessageKind;
  to: string;
  locale: Locale;
  /** Only ever used once the subscription is confirmed: unconfirmed free text is a spam vector. */
  name: string | null;
  subscriptionId: number;
  listSlug: string;
  listName: string;
  /**
   * For a confirmation: when its request lapses. The link expires with it, so the link also
   * names that request (a later signup replaces it); without it, TTL from now.
   */
  confirmExpiresAt?: number | null;
  /** The list's own sender ("Name <address>"); unset: the site's (MAIL_FROM). */
  from?: string | undefined;
  /** For a welcome: what the list is, in the subscriber's locale. */
  listDescription?: string | null;
  /** For a welcome: the list's welcome message (Markdown), in the subscriber's locale. */
  welcomeMarkdown?: string | null;
  /** For a broadcast: which one, so its unsubscribe link counts opt-outs for it. */
  broadcastId?: number | null;
  /** For an erase or export link: when the person asked for it (the link lasts DATA_LINK_TTL_MS from then). */
  requestedAt?: number;
  /** The unsubscribe link, when it is not the subscription's own (a broadcast's test copy to someone on no list). */
  unsubscribeUrl?: string;
}

/** The one-click unsubscribe link; a broadcast's names the broadcast too (signed), to count its opt-outs. */
export function unsubscribeUrl(
  context: Pick<MessageContext, 'publicUrl' | 'secrets'>,
  subscriptionId: number,
  broadcastId?: number | null,
): string {
  const token = createToken(context.secrets, {
    purpose: 'unsubscribe',
    subscriptionId,
    expiresAt: 0,
    ...(broadcastId ? { broadcastId } : {}),
  });
  return `${context.publicUrl}/unsubscribe?token=${token}`;
}

/** The unsubscribe link of a broadcast's test copy: it names the (sealed) address, not a subscription. */
export function testCopyUnsubscribeUrl(context: Pick<MessageContext, 'publicUrl' | 'secrets'>, claims: TestCopyClaims): string {
  return `${context.publicUrl}/unsubscribe?token=${createTestCopyToken(context.secrets, claims)}`;
}

/**
 * The preference centre of the subscription's contact ("Manage your subscriptions"): signed,
 * without expiry, like the unsubscribe link; it names the subscription, whose contact it opens.
 */
export function preferencesUrl(context: Pick<MessageContext, 'publicUrl' | 'secrets'>, subscriptionId: number): string {
  const token = createToken(context.secrets, { purpose: 'preferences', subscriptionId, expiresAt: 0 });
  return `${context.publicUrl}/preferences?token=${token}`;
}

/**
 * The confirm link. `locale` (the subscriber's) lets its page, and every page after it, speak
 * the mail's language whatever the browser says; it is a display choice, so it is not signed.
 */
export function confirmUrl(
  context: Pick<MessageContext, 'publicUrl' | 'secrets'>,
  subscriptionId: number,
  expiresAt: number,
  locale?: Locale,
): string {
  const token = createToken(context.secrets, { purpose: 'confirm', subscriptionId, expiresAt });
  return `${context.publicUrl}/confirm?token=${token}${locale ? `&locale=${locale}` : ''}`;
}

/**
 * The one-time link that erases a person's data, or downloads it, mailed to the address itself
 * at its owner's request. It names the subscription whose preference link asked (so its
 * contact), and lasts DATA_LINK_TTL_MS from the request; its expiry also tells one link from another.
 */
export function dataLinkUrl(
  context: Pick<MessageContext, 'publicUrl' | 'secrets'>,
  action: 'erase' | 'export',
  subscriptionId: number,
  requestedAt: number,
  locale?: Locale,
): string {
  const token = createToken(context.secrets, { purpose: action, subscriptionId, expiresAt: requestedAt + DATA_LINK_TTL_MS });
  const path = action === 'erase' ? '/preferences/erase/confirm' : '/preferences/export/download';
  return `${context.publicUrl}${path}?token=${token}${locale ? `&locale=${locale}` : ''}`;
}

/** The style of the welcome mail's text blocks (as MJML writes its mj-text), for the list's own words. */
const INTRO_STYLE =
  'padding:10px 25px;font-family:Helvetica, Arial, sans-serif;font-size:16px;line-height:24px;text-align:left;color:#1f2933;';

/**
 * The welcome mail's words from the list: its description (plain text) and its welcome message
 * (Markdown, rendered and sanitised), as one row of the mail's table, and as text for the text
 * part (where the Markdown source reads as it is). Nothing at all when the list has neither.
 */
function listIntro(description: string | null, markdown: string | null): { listIntroHtml: string; listIntroText: string } {
  if (!description && !markdown) return { listIntroHtml: '', listIntroText: '' };
  const html = `${description ? `<p>${escapeHtml(description)}</p>` : ''}${markdown ? renderWelcomeMessage(markdown) : ''}`;
  const text = [description, markdown].filter(Boolean).join('\n\n');
  return { listIntroHtml: `<tr><td align="left" style="${INTRO_STYLE}">${html}</td></tr>`, listIntroText: `\n${text}\n` };
}

/** One formatter per locale: building an Intl.DateTimeFormat costs more than composing the rest of a message. */
const expiryFormats = new Map<Locale, Intl.DateTimeFormat>();
function expiryDate(locale: Locale, at: number): string {
  let format = expiryFormats.get(locale);
  if (!format) expiryFormats.set(locale, (format = new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' })));
  return format.format(at);
}

/** A Feedback-ID field: no colons (they separate the fields) and nothing unique per message. */
const feedbackField = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '-');

/**
 * Builds the complete message: rendered parts, signed links, and the headers mail clients use
 * for one-click unsubscribe (RFC 8058) and list identification (RFC 2919). Feedback-ID groups
 * Gmail's complaint figures by list and kind; Auto-Submitted (RFC 3834) keeps vacation
 * auto-replies from answering a machine (see docs/deliverability.md).
 */
export function composeMessage(context: MessageContext, subject: MessageSubject, now = Date.now()): OutgoingMessage {
  const host = new URL(context.publicUrl).hostname;
  const from = subject.from ?? context.mailFrom;
  // The Message-ID on the From's domain (a list's sender is on the site's domain or a subdomain of it).
  const sendingDomain = senderDomain(from) ?? host;
  const unsubscribe = subject.unsubscribeUrl ?? unsubscribeUrl(context, subject.subscriptionId, subject.broadcastId);
  const variables: Record<string, string> = {
    listName: subject.listName,
    siteLabel: stringsOf(subject.locale).siteLabel(context.site.name, context.site.host),
    unsubscribeUrl: unsubscribe,
    preferencesUrl: preferencesUrl(context, subject.subscriptionId),
  };
  if (subject.kind === 'confirmation' || subject.kind === 'reminder') {
    const expiresAt = subject.confirmExpiresAt ?? now + CONFIRM_TOKEN_TTL_MS;
    variables.confirmUrl = confirmUrl(context, subject.subscriptionId, expiresAt, subject.locale);
    variables.validDays = String(CONFIRM_LINK_DAYS);
    // The reminder says the day the link stops working, in the reader's language.
    variables.expiresOn = expiryDate(subject.locale, expiresAt);
  }
  if (subject.kind === 'erase_link' || subject.kind === 'export_link') {
    const action = subject.kind === 'erase_link' ? 'erase' : 'export';
    variables.dataLinkUrl = dataLinkUrl(context, action, subject.subscriptionId, subject.requestedAt ?? now, subject.locale);
    variables.validMinutes = String(Math.round(DATA_LINK_TTL_MS / 60_000));
  }
  if (subject.kind === 'welcome') {
    variables.greetingName = subject.name ? `, ${subject.name}` : '';
    Object.assign(variables, listIntro(subject.listDescription ?? null, subject.welcomeMarkdown ?? null));
  }
  const rendered = renderMessage(context.templates, subject.locale, subject.kind, variables);
  return {
    from,
    ...(context.replyTo ? { replyTo: context.replyTo } : {}),
    to: subject.to,
    subject: rendered.subject,
    text: rendered.text,
    html: rendered.html,
    // Derived from the outbox row, so a retried send carries the same Message-ID.
    // On the sending domain: a Message-ID from another domain than From is a spam signal.
    messageId: `<${subject.outboxId}@${sendingDomain}>`,
    headers: {
      'List-Unsubscribe': `<${unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'List-Id': `${subject.listName.replace(/[\r\n"<>]/g, '')} <${subject.listSlug}.${host}>`,
      'Feedback-ID': `${feedbackField(subject.listSlug)}:${subject.kind}:${sendingDomain}`,
      'Auto-Submitted': 'auto-generated',
    },
    // The envelope stays the site's whatever the list's From: bounces come back to the site's
    // return path, and SPF is checked on the site's domain (DMARC aligns it with a list's From,
    // which must be on that domain or a subdomain of it: src/lists/lists.ts).
    envelope: { from: context.mailFrom, to: [subject.to] },
  };
}
