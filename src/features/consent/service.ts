import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Database, Row, Scope } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import { checkLocalizedText, decodeLocalizedText, encodeLocalizedText, type LocalizedText } from '../../platform/locales/localizedText.js';
import { findListBySlug } from '../lists/index.js';

/** A consent statement is one sentence or two; longer text is not a statement any more. */
export const CONSENT_TEXT_MAX = 1000;

/** JSON with its keys in a fixed order, so the same words always give the same version. */
function canonicalJson(text: LocalizedText): string {
  if (typeof text === 'string') return JSON.stringify(text);
  return JSON.stringify(Object.fromEntries(Object.entries(text).sort(([a], [b]) => a.localeCompare(b))));
}

/**
 * The version of a list's statement: the first 12 hex digits of sha256(slug + canonical words).
 * The same words on the same list are the same version (no duplicate), and a version names its
 * list, so a form of one list cannot pass for another's.
 */
export function consentVersionOf(listSlug: string, text: LocalizedText): string {
  return createHash('sha256')
    .update(`${listSlug}\n${canonicalJson(text)}`)
    .digest('hex')
    .slice(0, 12);
}

/** Checks the `text` of a request (a string, or an object per locale). */
export function checkConsentText(value: unknown): LocalizedText {
  const check = checkLocalizedText(value, CONSENT_TEXT_MAX);
  if (!check.ok) throw new AppError(400, 'invalid_consent_text', `The consent text ${check.problem}.`);
  return check.value;
}

/**
 * Makes these words the list's current statement. A new version is stored, never changing an old
 * one (every consent event keeps the exact words it was given on); the same words again are the
 * same version and store nothing new.
 */
export async function setConsentStatement(
  database: Database,
  listSlug: string,
  text: LocalizedText,
  now = Date.now(),
): Promise<{ version: string; created: boolean }> {
  const version = consentVersionOf(listSlug, text);
  return database.transaction(async (tx) => {
    const { consentTexts, lists } = tx.tables;
    const list = await findListBySlug(tx, listSlug);
    const [existing] = await tx.db.select({ version: consentTexts.version }).from(consentTexts).where(eq(consentTexts.version, version));
    if (!existing) await tx.db.insert(consentTexts).values({ version, listId: list.id, text: encodeLocalizedText(text), createdAt: now });
    if (list.consentVersion !== version) await tx.db.update(lists).set({ consentVersion: version }).where(eq(lists.id, list.id));
    return { version, created: !existing };
  });
}

/** A stored statement: its words and when they were written. */
export interface ConsentStatement {
  version: string;
  text: LocalizedText;
  createdAt: number;
}

function statementOf(row: Row<'consentTexts'>): ConsentStatement {
  return { version: row.version, text: decodeLocalizedText(row.text), createdAt: row.createdAt };
}

/** The list's current statement, or null when none was written. */
export async function currentConsentStatement(scope: Scope, list: Pick<Row<'lists'>, 'consentVersion'>): Promise<ConsentStatement | null> {
  if (list.consentVersion === null) return null;
  const [row] = await scope.db.select().from(scope.tables.consentTexts).where(eq(scope.tables.consentTexts.version, list.consentVersion));
  return row ? statementOf(row) : null;
}

/** Every version of a list's statement, newest first (the console shows the history). */
export async function consentHistory(scope: Scope, listId: number): Promise<ConsentStatement[]> {
  const { consentTexts } = scope.tables;
  const rows = await scope.db.select().from(consentTexts).where(eq(consentTexts.listId, listId));
  return rows.map(statementOf).sort((a, b) => b.createdAt - a.createdAt || a.version.localeCompare(b.version));
}

/**
 * The version a signup may record: the one its form carried, which must be a version of this
 * list (`400 unknown_consent_version` otherwise), or none, which a list that requires consent
 * refuses (`400 consent_required`). An old version stays valid: the person saw those words.
 */
export async function signupConsentVersion(scope: Scope, list: Row<'lists'>, given: string | null | undefined): Promise<string | null> {
  if (given === null || given === undefined || given === '') {
    if (list.requireConsent)
      throw new AppError(400, 'consent_required', 'This list needs the consent box ticked: send the form’s `consent` field.');
    return null;
  }
  const { consentTexts } = scope.tables;
  const [row] = await scope.db
    .select({ version: consentTexts.version })
    .from(consentTexts)
    .where(and(eq(consentTexts.version, given), eq(consentTexts.listId, list.id)));
  if (!row) throw new AppError(400, 'unknown_consent_version', 'The `consent` field names no consent statement of this list.');
  return row.version;
}
