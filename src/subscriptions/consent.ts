import type { Db } from '../db/client.js';
import { consentEvents } from '../db/schema.js';

/** Where a request came from: the proof recorded beside every consent event. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
  /** The page the form was on (Referer), when the browser sent it. */
  source: string | null;
}

export type ConsentAction =
  | 'subscribe_requested'
  | 'confirmed'
  | 'unsubscribed'
  | 'resubscribed'
  | 'not_me'
  | 'suppressed'
  | 'suppression_lifted'
  | 'confirmation_expired'
  | 'erased';

export function recordConsent(
  db: Pick<Db, 'insert'>,
  event: { contactId: number | null; listId: number | null; action: ConsentAction; at: number; origin?: RequestOrigin; detail?: string },
): void {
  db.insert(consentEvents)
    .values({
      contactId: event.contactId,
      listId: event.listId,
      action: event.action,
      at: event.at,
      ip: event.origin?.ip ?? null,
      userAgent: event.origin?.userAgent ?? null,
      source: event.origin?.source ?? null,
      detail: event.detail ?? null,
    })
    .run();
}
