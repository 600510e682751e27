import { sql } from 'drizzle-orm';
import type { Scope } from '../../platform/db/database.js';
import { preparedPerHandle } from '../../platform/db/prepared.js';

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
  | 'erased'
  /** Why the person left (the optional form after an unsubscribe); anonymous once erased. */
  | 'unsubscribe_reason'
  /** The person downloaded their data from the preference centre. */
  | 'data_exported'
  /** A contact stored under a quoted spelling took the key of the mailbox it reached (data migration). */
  | 'identity_migrated';

const insertConsentEvent = preparedPerHandle((tx: Scope) =>
  tx.db
    .insert(tx.tables.consentEvents)
    .values({
      contactId: sql.placeholder('contactId'),
      listId: sql.placeholder('listId'),
      action: sql.placeholder('action'),
      at: sql.placeholder('at'),
      ip: sql.placeholder('ip'),
      userAgent: sql.placeholder('userAgent'),
      source: sql.placeholder('source'),
      detail: sql.placeholder('detail'),
      consentVersion: sql.placeholder('consentVersion'),
    })
    .prepare('consent_insert_event'),
);

/** Appends one event to the consent log, inside the caller's transaction. */
export async function recordConsent(
  tx: Scope,
  event: {
    contactId: number | null;
    listId: number | null;
    action: ConsentAction;
    at: number;
    origin?: RequestOrigin;
    detail?: string;
    /** The consent statement in force (consent_texts.version), when the list has one. */
    consentVersion?: string | null;
  },
): Promise<void> {
  await insertConsentEvent(tx).execute({
    contactId: event.contactId,
    listId: event.listId,
    action: event.action,
    at: event.at,
    ip: event.origin?.ip ?? null,
    userAgent: event.origin?.userAgent ?? null,
    source: event.origin?.source ?? null,
    detail: event.detail ?? null,
    consentVersion: event.consentVersion ?? null,
  });
}
