import type { Request } from 'express';
import busboy from 'busboy';
import type { Database } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import { csvRecords, importSuppressions, type ImportCounts } from './csv.js';

/** Big enough for a few million addresses; the rows are imported as they arrive, never held whole. */
export const MAX_IMPORT_BYTES = 200 * 1024 * 1024;

/**
 * Imports the CSV sent as the `file` field of a multipart/form-data request, streaming its rows
 * into the suppression list. Answers the counts once the whole file has been read.
 */
export function importCsvUpload(req: Request, database: Database, secrets: readonly string[], source: string): Promise<ImportCounts> {
  return new Promise((resolve, reject) => {
    if (Number(req.get('content-length') ?? 0) > MAX_IMPORT_BYTES) {
      reject(new AppError(413, 'payload_too_large', `The upload is larger than ${MAX_IMPORT_BYTES / 1024 / 1024} MB.`));
      return;
    }
    let form: busboy.Busboy;
    try {
      form = busboy({ headers: req.headers, limits: { files: 1, fields: 10, fieldSize: 1024, fileSize: MAX_IMPORT_BYTES } });
    } catch {
      reject(new AppError(415, 'unsupported_media_type', 'Send the CSV as multipart/form-data in a field called "file".'));
      return;
    }
    let importing: Promise<ImportCounts> | undefined;
    form.on('file', (name, file) => {
      if (name !== 'file' || importing) {
        file.resume();
        return;
      }
      file.on('limit', () =>
        file.destroy(
          new AppError(
            413,
            'payload_too_large',
            `The file is larger than ${MAX_IMPORT_BYTES / 1024 / 1024} MB; the rows before the limit were imported.`,
          ),
        ),
      );
      importing = importSuppressions(database, secrets, csvRecords(file), { source });
      importing.then(resolve, (error: unknown) => {
        // Stop reading the rest of the upload; the answer names what went wrong.
        req.unpipe(form);
        req.resume();
        reject(error);
      });
    });
    form.on('error', () => reject(new AppError(400, 'invalid_body', 'The upload could not be read as multipart/form-data.')));
    form.on('close', () => {
      if (!importing) reject(new AppError(400, 'missing_file', 'Send the CSV in a form field called "file".'));
    });
    req.pipe(form);
  });
}
