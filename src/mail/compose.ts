import type { Config, Site } from '../config.js';
import type { MessageKind } from '../db/schema.js';
import { createToken, CONFIRM_TOKEN_TTL_MS } from '../subscriptions/tokens.js';
import { stringsOf, type Locale } from './locale.js';
import { senderDomain } from './sender.js';
import { renderMessage, type Templates } from './templates.js';
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
export function messageContext(config: Pick<Config, 'publicUrl' | 'mailFrom' | 'replyTo' | 'site' | 'secrets'>, templates: Templates): MessageContext {
  return { publicUrl: config.publicUrl, mailFrom: config.mailFrom, replyTo: config.replyTo, site: config.site, secrets: config.secrets, templates };
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
  /** For a broadcast: which one, so its unsubscribe link counts opt-outs for it. */
  broadcastId?: number | null;
}

/** The one-click unsubscribe link; a broadcast's names the broadcast too (signed), to count its opt-outs. */
export function unsubscribeUrl(context: Pick<MessageContext, 'publicUrl' | 'secrets'>, subscriptionId: number, broadcastId?: number | null): string {
  const token = createToken(context.secrets, { purpose: 'unsubscribe', subscriptionId, expiresAt: 0, ...(broadcastId ? { broadcastId } : {}) });
  return `${context.publicUrl}/unsubscribe?token=${token}`;
}

/**
 * The confirm link. `locale` (the subscriber's) lets its page, and every page after it, speak
 * the mail's language whatever the browser says; it is a display choice, so it is not signed.
 */
export function confirmUrl(context: Pick<MessageContext, 'publicUrl' | 'secrets'>, subscriptionId: number, expiresAt: number, locale?: Locale): string {
  const token = createToken(context.secrets, { purpose: 'confirm', subscriptionId, expiresAt });
  return `${context.publicUrl}/confirm?token=${token}${locale ? `&locale=${locale}` : ''}`;
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
  const sendingDomain = senderDomain(context.mailFrom) ?? host;
  const unsubscribe = unsubscribeUrl(context, subject.subscriptionId, subject.broadcastId);
  const variables: Record<string, string> = {
    listName: subject.listName,
    siteLabel: stringsOf(subject.locale).siteLabel(context.site.name, context.site.host),
    unsubscribeUrl: unsubscribe,
  };
  if (subject.kind === 'confirmation') {
    variables.confirmUrl = confirmUrl(context, subject.subscriptionId, subject.confirmExpiresAt ?? now + CONFIRM_TOKEN_TTL_MS, subject.locale);
    variables.validDays = String(CONFIRM_LINK_DAYS);
  }
  if (subject.kind === 'welcome') variables.greetingName = subject.name ? `, ${subject.name}` : '';
  const rendered = renderMessage(context.templates, subject.locale, subject.kind, variables);
  return {
    from: context.mailFrom,
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
    envelope: { from: context.mailFrom, to: [subject.to] },
  };
}
