import { eq, sql } from 'drizzle-orm';
import type { Row, Scope } from '../../platform/db/database.js';
import { preparedPerHandle } from '../../platform/db/prepared.js';
import { AppError } from '../../errors.js';
import { parseAddress } from '../../platform/mail/address.js';
import { asc, count, DrizzleQueryError } from 'drizzle-orm';
import type { Config } from '../../config.js';
import type { Database } from '../../platform/db/database.js';
import { isUniqueViolation } from '../../platform/db/database.js';
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from '../../platform/db/schema.js';
import { DEFAULT_LOCALE } from '../../platform/locales/locale.js';
import { isSameOrParentDomain, senderDomain } from '../../platform/mail/sender.js';
import {
  checkLocalizedText,
  decodeLocalizedText,
  encodeLocalizedText,
  localize,
  type LocalizedText,
} from '../../platform/locales/localizedText.js';

/** What the API, the console and the CLI show of a list. */
export interface ListView {
  slug: string;
  name: LocalizedText;
  description: LocalizedText | null;
  thankYouUrl: string | null;
  confirmedUrl: string | null;
  fromName: string | null;
  fromEmail: string | null;
  public: boolean;
  archived: boolean;
  welcomeMessage: LocalizedText | null;
  goodbyeEmail: boolean;
  requireConsent: boolean;
  remindUnconfirmed: boolean;
  createdAt: string;
  counts: Record<SubscriptionStatus, number>;
}

/** The fields a create or an edit may carry, checked (`undefined`: leave as it is). */
export interface ListChanges {
  name?: LocalizedText;
  description?: LocalizedText | null;
  thankYouUrl?: string | null;
  confirmedUrl?: string | null;
  fromName?: string | null;
  fromEmail?: string | null;
  public?: boolean;
  archived?: boolean;
  welcomeMessage?: LocalizedText | null;
  goodbyeEmail?: boolean;
  remindUnconfirmed?: boolean;
  requireConsent?: boolean;
}

/** Where a list's own sender may be: the domains SPF and DKIM are set up for (MAIL_FROM's, DKIM_DOMAIN). */
export interface ListRules {
  senderDomains: readonly string[];
}

/** The rules from the configuration: a list's sender must be on MAIL_FROM's domain or DKIM_DOMAIN (or a subdomain). */
export function listRules(config: Pick<Config, 'mailFrom' | 'dkim'>): ListRules {
  const domains = [senderDomain(config.mailFrom), config.dkim?.domain].filter((d): d is string => d !== undefined);
  return { senderDomains: [...new Set(domains)] };
}

export const SLUG_PATTERN = /^[a-z0-9-]{1,64}$/;
const NAME_MAX = 200;
const DESCRIPTION_MAX = 2000;
const WELCOME_MAX = 20_000;
const URL_MAX = 2048;
const FROM_NAME_MAX = 100;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const FIELDS = [
  'slug',
  'name',
  'description',
  'thankYouUrl',
  'confirmedUrl',
  'fromName',
  'fromEmail',
  'public',
  'archived',
  'welcomeMessage',
  'goodbyeEmail',
  'remindUnconfirmed',
  'requireConsent',
] as const;

/** Every problem with a list's fields is this one code; the message names the field. */
const invalid = (field: string, problem: string) => new AppError(400, 'invalid_list', `The field "${field}" ${problem}.`);
const unknownList = (slug: string) => new AppError(404, 'unknown_list', `There is no list called "${slug}".`);

function localizedField(
  body: Record<string, unknown>,
  field: string,
  maxLength: number,
  nullable: boolean,
): LocalizedText | null | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (value === null || value === '') {
    if (nullable) return null;
    throw invalid(field, 'is required');
  }
  const check = checkLocalizedText(value, maxLength);
  if (!check.ok) throw invalid(field, check.problem.replace(/^the text /, ''));
  // A name reaches headers (Subject, List-Id): one line, no control characters.
  if (
    field === 'name' &&
    Object.values(typeof check.value === 'string' ? { all: check.value } : check.value).some((text) => CONTROL.test(text ?? ''))
  ) {
    throw invalid(field, 'must be on one line, without control characters');
  }
  return check.value;
}

function urlField(body: Record<string, unknown>, field: string): string | null | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > URL_MAX || /[\s\u0000-\u001f\u007f]/.test(value)) {
    throw invalid(field, `must be an http(s) URL of at most ${URL_MAX} characters`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(field, 'must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(field, 'must be an http(s) URL');
  return url.toString();
}

function booleanField(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(field, 'must be true or false');
  return value;
}

function fromNameField(body: Record<string, unknown>): string | null | undefined {
  const value = body.fromName;
  if (value === undefined) return undefined;
  if (value === null || value === '') return null;
  // It becomes a header's display name: nothing that could end a line or break the quoting.
  if (typeof value !== 'string' || value.trim() === '' || value.length > FROM_NAME_MAX || CONTROL.test(value)) {
    throw invalid('fromName', `must be a name of 1 to ${FROM_NAME_MAX} characters on one line`);
  }
  return value.trim();
}

function fromEmailField(body: Record<string, unknown>, rules: ListRules): string | null | undefined {
  const value = body.fromEmail;
  if (value === undefined) return undefined;
  if (value === null || value === '') return null;
  if (typeof value !== 'string') throw invalid('fromEmail', 'must be an email address');
  const parsed = parseAddress(value);
  if (!parsed.ok) throw invalid('fromEmail', `must be an email address (${parsed.message})`);
  // Mail goes out with the site's envelope sender and DKIM key: a From on any other domain fails DMARC alignment.
  if (rules.senderDomains.length > 0 && !rules.senderDomains.some((domain) => isSameOrParentDomain(parsed.address.domain, domain))) {
    throw invalid(
      'fromEmail',
      `must be an address at ${rules.senderDomains.join(' or ')} (or a subdomain): mail is signed and sent for that domain, and a From on another one fails DMARC`,
    );
  }
  return parsed.address.email;
}

/**
 * Checks the fields of a create (`creating`: slug and name required) or an edit (only what is
 * given changes; the slug is fixed). Everything is checked before anything is written, and the
 * first problem is answered as `400 invalid_list` naming its field.
 */
export function checkListInput(input: unknown, rules: ListRules, creating: boolean): ListChanges & { slug?: string } {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new AppError(400, 'invalid_list', 'Send the list as a JSON object.');
  const body = input as Record<string, unknown>;
  const unknown = Object.keys(body).find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) throw invalid(unknown, `is not a field of a list (fields: ${FIELDS.join(', ')})`);
  let slug: string | undefined;
  if (creating) {
    if (typeof body.slug !== 'string' || !SLUG_PATTERN.test(body.slug))
      throw invalid('slug', 'must be 1 to 64 lower-case letters, digits or hyphens');
    slug = body.slug;
    if (body.name === undefined) throw invalid('name', 'is required');
  } else if (body.slug !== undefined) {
    throw invalid('slug', 'cannot be changed once the list exists (links and forms use it)');
  }
  const changes: ListChanges & { slug?: string } = {
    slug,
    name: localizedField(body, 'name', NAME_MAX, false) ?? undefined,
    description: localizedField(body, 'description', DESCRIPTION_MAX, true),
    thankYouUrl: urlField(body, 'thankYouUrl'),
    confirmedUrl: urlField(body, 'confirmedUrl'),
    fromName: fromNameField(body),
    fromEmail: fromEmailField(body, rules),
    public: booleanField(body, 'public'),
    archived: booleanField(body, 'archived'),
    welcomeMessage: localizedField(body, 'welcomeMessage', WELCOME_MAX, true),
    goodbyeEmail: booleanField(body, 'goodbyeEmail'),
    remindUnconfirmed: booleanField(body, 'remindUnconfirmed'),
    // Until the list has a consent statement, a list that requires one takes no signup (consent_required).
    requireConsent: booleanField(body, 'requireConsent'),
  };
  return changes;
}

const decodeOrNull = (stored: string | null) => (stored === null ? null : decodeLocalizedText(stored));
const iso = (ms: number) => new Date(ms).toISOString();

/** The row's columns for these changes (name: the plain fallback plus the per-locale JSON). */
function columnsOf(changes: ListChanges, now: number): Partial<Row<'lists'>> {
  const columns: Partial<Row<'lists'>> = {};
  if (changes.name !== undefined) {
    columns.name = localize(changes.name, DEFAULT_LOCALE);
    columns.nameByLocale = typeof changes.name === 'string' ? null : encodeLocalizedText(changes.name);
  }
  if (changes.description !== undefined)
    columns.description = changes.description === null ? null : encodeLocalizedText(changes.description);
  if (changes.welcomeMessage !== undefined)
    columns.welcomeMessage = changes.welcomeMessage === null ? null : encodeLocalizedText(changes.welcomeMessage);
  for (const field of ['thankYouUrl', 'confirmedUrl', 'fromName', 'fromEmail'] as const) {
    if (changes[field] !== undefined) columns[field] = changes[field];
  }
  if (changes.public !== undefined) columns.public = changes.public;
  if (changes.goodbyeEmail !== undefined) columns.goodbyeEmail = changes.goodbyeEmail;
  if (changes.remindUnconfirmed !== undefined) columns.remindUnconfirmed = changes.remindUnconfirmed;
  if (changes.requireConsent !== undefined) columns.requireConsent = changes.requireConsent;
  if (changes.archived !== undefined) columns.archivedAt = changes.archived ? now : null;
  return columns;
}

/** A list row as the API shows it. */
export function listView(list: Row<'lists'>, counts: Record<SubscriptionStatus, number>): ListView {
  return {
    slug: list.slug,
    name: list.nameByLocale === null ? list.name : decodeLocalizedText(list.nameByLocale),
    description: decodeOrNull(list.description),
    thankYouUrl: list.thankYouUrl,
    confirmedUrl: list.confirmedUrl,
    fromName: list.fromName,
    fromEmail: list.fromEmail,
    public: list.public,
    archived: list.archivedAt !== null,
    welcomeMessage: decodeOrNull(list.welcomeMessage),
    goodbyeEmail: list.goodbyeEmail,
    requireConsent: list.requireConsent,
    remindUnconfirmed: list.remindUnconfirmed,
    createdAt: iso(list.createdAt),
    counts,
  };
}

const noCounts = (): Record<SubscriptionStatus, number> => ({ pending: 0, confirmed: 0, unsubscribed: 0 });

/**
 * Subscriptions per list and status, read from the index subscriptions_list_status alone: the
 * lists API and the dashboard (which keeps the last count a while: dashboardStats.ts).
 */
export async function countsByList(scope: Scope, listId?: number): Promise<Map<number, Record<SubscriptionStatus, number>>> {
  const { subscriptions } = scope.tables;
  const rows = await scope.db
    .select({ listId: subscriptions.listId, status: subscriptions.status, n: count() })
    .from(subscriptions)
    .where(listId === undefined ? undefined : eq(subscriptions.listId, listId))
    .groupBy(subscriptions.listId, subscriptions.status);
  const byList = new Map<number, Record<SubscriptionStatus, number>>();
  for (const row of rows) {
    const counts = byList.get(row.listId) ?? noCounts();
    if ((SUBSCRIPTION_STATUSES as readonly string[]).includes(row.status)) counts[row.status] = Number(row.n);
    byList.set(row.listId, counts);
  }
  return byList;
}

async function rowBySlug(scope: Scope, slug: string): Promise<Row<'lists'>> {
  const { lists } = scope.tables;
  const [list] = SLUG_PATTERN.test(slug) ? await scope.db.select().from(lists).where(eq(lists.slug, slug)) : [];
  if (!list) throw unknownList(slug);
  return list;
}

/** Every list, archived ones included, by slug, with its subscription counts. */
export async function listLists(scope: Scope): Promise<ListView[]> {
  const { lists } = scope.tables;
  const rows = await scope.db.select().from(lists).orderBy(asc(lists.slug));
  const counts = await countsByList(scope);
  return rows.map((row) => listView(row, counts.get(row.id) ?? noCounts()));
}

/** One list by slug, archived or not; `404 unknown_list` when there is none. */
export async function getList(scope: Scope, slug: string): Promise<ListView> {
  const list = await rowBySlug(scope, slug);
  return listView(list, (await countsByList(scope, list.id)).get(list.id) ?? noCounts());
}

/** Creates a list; `409 list_exists` when the slug is taken. */
export async function createList(database: Database, rules: ListRules, input: unknown, now = Date.now()): Promise<ListView> {
  const changes = checkListInput(input, rules, true);
  const slug = changes.slug!;
  try {
    await database.transaction(async (tx) => {
      const { lists } = tx.tables;
      const [taken] = await tx.db.select({ id: lists.id }).from(lists).where(eq(lists.slug, slug));
      if (taken) throw new AppError(409, 'list_exists', `There is already a list called "${slug}".`);
      const columns = columnsOf(changes, now);
      await tx.db.insert(lists).values({ ...columns, slug, name: columns.name!, createdAt: now });
    });
  } catch (error) {
    // Two creates of one slug at once: the unique index decides, and the loser gets the same answer.
    if (isUniqueViolation(error)) throw new AppError(409, 'list_exists', `There is already a list called "${slug}".`);
    throw error;
  }
  return getList(database, slug);
}

/** Changes the fields given (null clears an optional one); the slug stays. Archiving is `archived: true`. */
export async function updateList(database: Database, rules: ListRules, slug: string, input: unknown, now = Date.now()): Promise<ListView> {
  const changes = checkListInput(input, rules, false);
  await database.transaction(async (tx) => {
    const list = await rowBySlug(tx, slug);
    const columns = columnsOf(changes, now);
    // Archiving an archived list keeps the date it was first archived.
    if (changes.archived === true && list.archivedAt !== null) delete columns.archivedAt;
    if (Object.keys(columns).length > 0) await tx.db.update(tx.tables.lists).set(columns).where(eq(tx.tables.lists.id, list.id));
  });
  return getList(database, slug);
}

/**
 * Deletes a list nobody ever subscribed to (a typo, a test). One with subscriptions, in any
 * state, is refused with `409 list_in_use`: its history and its opt-outs must stay, so
 * archiving is the way to retire it. Anything else that refers to it (suppression entries,
 * consent events, broadcasts) refuses the delete the same way.
 */
export async function deleteList(database: Database, slug: string): Promise<void> {
  const inUse = () =>
    new AppError(409, 'list_in_use', `The list "${slug}" has subscriptions or history, so it cannot be deleted; archive it instead.`);
  try {
    await database.transaction(async (tx) => {
      const list = await rowBySlug(tx, slug);
      const { subscriptions, lists } = tx.tables;
      const [used] = await tx.db.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.listId, list.id)).limit(1);
      if (used) throw inUse();
      await tx.db.delete(lists).where(eq(lists.id, list.id));
    });
  } catch (error) {
    if (error instanceof AppError) throw error;
    if (isForeignKeyViolation(error)) throw inUse();
    throw error;
  }
}

/** A foreign key refused the delete: a suppression entry, a consent event or a broadcast names the list (PostgreSQL 23503, SQLite SQLITE_CONSTRAINT_FOREIGNKEY). */
function isForeignKeyViolation(error: unknown): boolean {
  const code = ((error instanceof DrizzleQueryError ? error.cause : error) as { code?: unknown } | undefined)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

const listBySlug = preparedPerHandle((scope: Scope) => {
  const { lists } = scope.tables;
  return scope.db
    .select()
    .from(lists)
    .where(eq(lists.slug, sql.placeholder('slug')))
    .prepare('subscribe_list_by_slug');
});

/** The list that takes signups under this slug, or null: an archived list takes none (its opt-outs still work). */
export async function findOpenList(scope: Scope, slug: string): Promise<Row<'lists'> | null> {
  const [list] = await listBySlug(scope).execute({ slug });
  return list && list.archivedAt === null ? list : null;
}

/** findOpenList, answering an unknown or archived list alike: `404 unknown_list`. */
export async function findListBySlug(scope: Scope, slug: string): Promise<Row<'lists'>> {
  const list = await findOpenList(scope, slug);
  if (!list) throw new AppError(404, 'unknown_list', `There is no list called "${slug}".`);
  return list;
}

/** Every list's slug, in order: the filters of the console's pages. */
export async function listSlugs(scope: Scope): Promise<string[]> {
  const { lists } = scope.tables;
  return (await scope.db.select({ slug: lists.slug }).from(lists).orderBy(asc(lists.slug))).map((l) => l.slug);
}
