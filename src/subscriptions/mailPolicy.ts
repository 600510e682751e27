import type { Db } from '../db/client.js';
import type { MessageKind, SubscriptionStatus } from '../db/schema.js';
import { findSuppression } from './suppression.js';

export interface MailRequest {
  /** Lower-cased canonical address; null when the contact has been erased. */
  emailKey: string | null;
  listId: number;
  kind: MessageKind;
  subscriptionStatus: SubscriptionStatus | null;
  /** For a confirmation: when the pending request lapses. */
  confirmExpiresAt: number | null;
  now: number;
}

export type MailDecision = { allowed: true } | { allowed: false; reason: string };

/**
 * The one place that decides whether an address may be mailed now. Every send path asks it:
 * the signup (before anything is queued) and the worker (again, right before the SMTP call).
 * A database error propagates, so callers fail closed.
 */
export function mayMail(db: Pick<Db, 'select'>, secrets: readonly string[], request: MailRequest): MailDecision {
  if (request.emailKey === null) return { allowed: false, reason: 'erased' };
  const suppression = findSuppression(db, secrets, request.emailKey, request.listId);
  if (suppression) return { allowed: false, reason: `suppressed:${suppression.reason}` };
  switch (request.kind) {
    case 'confirmation':
      if (request.subscriptionStatus !== 'pending') return { allowed: false, reason: 'not_pending' };
      if (request.confirmExpiresAt === null || request.confirmExpiresAt <= request.now) {
        return { allowed: false, reason: 'confirmation_expired' };
      }
      return { allowed: true };
    case 'welcome':
      if (request.subscriptionStatus !== 'confirmed') return { allowed: false, reason: 'not_confirmed' };
      return { allowed: true };
  }
}
