import { csvLine } from '../../platform/http/csv.js';
import type { Readable } from 'node:stream';
import { CsvError, parse, type Info } from 'csv-parse';
import { asc, eq, gt } from 'drizzle-orm';
import type { Database, Scope } from '../../platform/db/database.js';
import { SUPPRESSION_REASONS, type SuppressionReason } from '../../platform/db/schema.js';
import { AppError } from '../../errors.js';
import { parseAddress } from '../../platform/mail/address.js';
import { parseDomainPattern, suppressManyByHand, type EntryByHand } from './service.js';
import { DOMAIN_KEY_PREFIX, isDomainKey, suppressDomain } from '../policy/index.js';

/** `domain`: a domain block's pattern (`spam.example`, `*.spam.example`), its `email` empty. */
export const SUPPRESSION_CSV_HEADER = ['email', 'reason', 'list', 'created_at', 'domain'] as const;

/** Rows per query: every chunk is its own short query, so no statement stays open while a slow client reads. */
const EXPORT_BATCH = 2000;

/**
 * The whole suppression list as CSV text, one chunk per keyset batch (oldest first). Pull it
 * lazily (Readable.from) so a million rows never sit in memory. Erased entries have no email.
 */
export async function* suppressionCsvChunks(scope: Scope, onRows?: (rows: number) => void): AsyncGenerator<string> {
  const { suppressions, lists } = scope.tables;
  yield csvLine(SUPPRESSION_CSV_HEADER);
  let after = 0;
  let total = 0;
  for (;;) {
    const rows = await scope.db
      .select({
        id: suppressions.id,
        email: suppressions.email,
        reason: suppressions.reason,
        list: lists.slug,
        createdAt: suppressions.createdAt,
        emailHash: suppressions.emailHash,
      })
      .from(suppressions)
      .leftJoin(lists, eq(lists.id, suppressions.listId))
      .where(gt(suppressions.id, after))
      .orderBy(asc(suppressions.id))
      .limit(EXPORT_BATCH);
    if (rows.length === 0) return;
    yield rows
      .map((r) =>
        csvLine([
          r.email,
          r.reason,
          r.list,
          new Date(r.createdAt).toISOString(),
          isDomainKey(r.emailHash) ? r.emailHash.slice(DOMAIN_KEY_PREFIX.length) : null,
        ]),
      )
      .join('');
    after = rows.at(-1)!.id;
    total += rows.length;
    onRows?.(total);
  }
}

export interface ImportCounts {
  added: number;
  alreadyPresent: number;
  invalid: number;
  /** The first few invalid rows, by line, with what was wrong. */
  problems: { row: number; message: string }[];
}

const IMPORT_BATCH = 1000;
const MAX_PROBLEMS = 20;

interface Columns {
  email: number;
  reason: number;
  list: number;
  domain: number;
}

/** A first row naming an `email` column is a header; otherwise the first column holds addresses. */
function headerColumns(record: readonly string[]): Columns | undefined {
  const names = record.map((cell) => cell.trim().toLowerCase());
  if (!names.includes('email')) return undefined;
  return { email: names.indexOf('email'), reason: names.indexOf('reason'), list: names.indexOf('list'), domain: names.indexOf('domain') };
}

/**
 * Suppresses every address of a CSV (already split into records), in transactions of a batch of
 * rows. Optional `reason` and `list` columns (by header) override the defaults. Counts what was
 * added, what was already there, and the rows that are not a valid address, reason or list.
 */
export async function importSuppressions(
  database: Database,
  secrets: readonly string[],
  records: AsyncIterable<string[]>,
  options: { source: string; reason?: SuppressionReason; onProgress?: (counts: ImportCounts, rows: number) => void },
  now = Date.now(),
): Promise<ImportCounts> {
  const counts: ImportCounts = { added: 0, alreadyPresent: 0, invalid: 0, problems: [] };
  const listIds = new Map<string, number | undefined>();
  let columns: Columns = { email: 0, reason: -1, list: -1, domain: -1 };
  let row = 0;
  let batch: { row: number; record: string[] }[] = [];

  const invalid = (at: number, message: string) => {
    counts.invalid += 1;
    if (counts.problems.length < MAX_PROBLEMS) counts.problems.push({ row: at, message });
  };
  const listIdOf = async (tx: Scope, slug: string) => {
    if (!listIds.has(slug)) {
      const { lists } = tx.tables;
      listIds.set(slug, (await tx.db.select({ id: lists.id }).from(lists).where(eq(lists.slug, slug)))[0]?.id);
    }
    return listIds.get(slug);
  };
  // Each batch is its own transaction: a file that breaks off later keeps the batches before it.
  const flush = async () => {
    const rows = batch;
    batch = [];
    await database.transaction(async (tx) => {
      const valid: EntryByHand[] = [];
      const domains: { pattern: string; reason: SuppressionReason; listId: number | null }[] = [];
      for (const { row: at, record } of rows) {
        const cell = (index: number) => (index >= 0 ? (record[index] ?? '').trim() : '');
        // A domain block (our own export writes them with the email empty).
        const domainText = cell(columns.email) === '' ? cell(columns.domain) : '';
        let pattern: string | undefined;
        if (domainText !== '') {
          try {
            pattern = parseDomainPattern(domainText);
          } catch (error) {
            invalid(at, (error as Error).message);
            continue;
          }
        }
        // Our own export defuses formula cells with a leading quote; take it off again.
        const parsed = pattern === undefined ? parseAddress(cell(columns.email).replace(/^'(?=[=+\-@])/, '')) : undefined;
        if (parsed && !parsed.ok) {
          invalid(at, parsed.message);
          continue;
        }
        const reasonText = cell(columns.reason) || options.reason || 'manual';
        if (!(SUPPRESSION_REASONS as readonly string[]).includes(reasonText)) {
          invalid(at, `Unknown reason "${reasonText}".`);
          continue;
        }
        const slug = cell(columns.list);
        const listId = slug ? await listIdOf(tx, slug) : null;
        if (listId === undefined) {
          invalid(at, `There is no list called "${slug}".`);
          continue;
        }
        if (parsed?.ok) valid.push({ address: parsed.address, reason: reasonText as SuppressionReason, listId, source: options.source });
        else if (pattern !== undefined) domains.push({ pattern, reason: reasonText as SuppressionReason, listId });
      }
      for (const domain of domains) {
        const result = await suppressDomain(tx, { ...domain, source: options.source, at: now });
        if (result.created) counts.added += 1;
        else counts.alreadyPresent += 1;
      }
      for (const result of await suppressManyByHand(tx, secrets, valid, now)) {
        if (result.created) counts.added += 1;
        else counts.alreadyPresent += 1;
      }
    });
    options.onProgress?.(counts, row);
  };

  try {
    for await (const record of records) {
      row += 1;
      if (row === 1) {
        const header = headerColumns(record);
        if (header) {
          columns = header;
          continue;
        }
      }
      batch.push({ row, record });
      if (batch.length >= IMPORT_BATCH) await flush();
    }
  } catch (error) {
    // The file broke off (a malformed line, the size limit): the rows read before it are kept.
    if (batch.length > 0) await flush();
    if (!(error instanceof AppError)) throw error;
    const sofar = `Rows before it: ${counts.added} added, ${counts.alreadyPresent} already present, ${counts.invalid} invalid.`;
    throw new AppError(error.status, error.code, `${error.message} ${sofar}`);
  }
  if (batch.length > 0) await flush();
  return counts;
}

/** Longest CSV record accepted; a real row is one address and a few words. */
const MAX_RECORD_BYTES = 16 * 1024;

/** What went wrong, in words that do not cite the parser's own (end-of-file) line. */
function csvProblem(error: CsvError): string {
  if (error.code === 'CSV_QUOTE_NOT_CLOSED') return 'a quote opened there is never closed';
  if (error.code === 'CSV_MAX_RECORD_SIZE') return `the row is longer than ${MAX_RECORD_BYTES / 1024} KB`;
  return error.message;
}

/**
 * Splits a CSV byte stream into records as they arrive. A malformed file (an unclosed quote,
 * an endless line) becomes a 400 naming the line its bad row starts on, and a failing input
 * (the upload's size limit) ends it with that error; either way every row before is yielded
 * first, so the caller keeps them. A quote inside an unquoted field (`a"b@example.com`) is taken
 * as text: that row is one invalid address rather than the end of the import.
 */
export async function* csvRecords(input: Readable): AsyncGenerator<string[]> {
  // The first thing that went wrong, and how many records were complete before it. A parser that
  // errors (or is destroyed by its input) drops the records it still buffers, so it is told to
  // skip instead, and the error is raised here, in order, after those records.
  let problem: { error: unknown; recordsBefore: number } | undefined;
  const parser = parse({
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
    info: true,
    skip_records_with_error: true,
    on_skip: (error) => {
      problem ??= { error, recordsBefore: parser.info.records };
      return undefined;
    },
  });
  input.on('error', (error) => {
    problem ??= { error, recordsBefore: parser.info.records };
    parser.end();
  });
  input.pipe(parser);

  // Where the last good record ended: the bad one starts on the next line that is not blank.
  let lastLine = 0;
  let lastEmptyLines = 0;
  let yielded = 0;
  const failure = (error: unknown): unknown => {
    if (!(error instanceof CsvError)) return error;
    const emptyLinesSince = (typeof error.empty_lines === 'number' ? error.empty_lines : lastEmptyLines) - lastEmptyLines;
    const line = lastLine + 1 + Math.max(0, emptyLinesSince);
    return new AppError(400, 'invalid_csv', `The CSV could not be read from line ${line}: ${csvProblem(error)}.`);
  };
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      if (problem && yielded >= problem.recordsBefore) throw failure(problem.error);
      lastLine = info.lines;
      lastEmptyLines = info.empty_lines;
      yielded += 1;
      yield record;
    }
    if (problem) throw failure(problem.error);
  } finally {
    input.unpipe(parser);
    parser.destroy();
  }
}
