import type { MessageKind } from '../db/schema.js';
import { createToken, CONFIRM_TOKEN_TTL_MS } from '../subscriptions/tokens.js';
import type { Locale } from './locale.js';
import { renderMessage, type Templates } from './templates.js';
import type { OutgoingMessage } from './transport.js';

export interface MessageContext {
  publicUrl: string;
  mailFrom: string;
  secrets: readonly string[];
  templates: Templates;
}

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
}

export function unsubscribeUrl(context: Pick<MessageContext, 'publicUrl' | 'secrets'>, subscriptionId: number): string {
  const token = createToken(context.secrets, { purpose: 'unsubscribe', subscriptionId, expiresAt: 0 });
  return `${context.publicUrl}/unsubscribe?token=${token}`;
}

export function confirmUrl(context: Pick<MessageContext, 'publicUrl' | 'secrets'>, subscriptionId: number, expiresAt: number): string {
  const token = createToken(context.secrets, { purpose: 'confirm', subscriptionId, expiresAt });
  return `${context.publicUrl}/confirm?token=${token}`;
}

/**
 * Builds the complete message: rendered parts, signed links, and the headers mail clients use
 * for one-click unsubscribe (RFC 8058) and list identification (RFC 2919).
 */
export function composeMessage(context: MessageContext, subject: MessageSubject, now = Date.now()): OutgoingMessage {
  const host = new URL(context.publicUrl).hostname;
  const unsubscribe = unsubscribeUrl(context, subject.subscriptionId);
  const variables: Record<string, string> = {
    listName: subject.listName,
    unsubscribeUrl: unsubscribe,
  };
  if (subject.kind === 'confirmation') variables.confirmUrl = confirmUrl(context, subject.subscriptionId, subject.confirmExpiresAt ?? now + CONFIRM_TOKEN_TTL_MS);
  if (subject.kind === 'welcome') variables.greetingName = subject.name ? `, ${subject.name}` : '';
  const rendered = renderMessage(context.templates, subject.locale, subject.kind, variables);
  return {
    from: context.mailFrom,
    to: subject.to,
    subject: rendered.subject,
    text: rendered.text,
    html: rendered.html,
    // Derived from the outbox row, so a retried send carries the same Message-ID.
    messageId: `<${subject.outboxId}@${host}>`,
    headers: {
      'List-Unsubscribe': `<${unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'List-Id': `${subject.listName.replace(/[\r\n"<>]/g, '')} <${subject.listSlug}.${host}>`,
    },
    envelope: { from: context.mailFrom, to: [subject.to] },
  };
}
