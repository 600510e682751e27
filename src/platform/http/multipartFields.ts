import busboy from 'busboy';
import type { RequestHandler } from 'express';
import { AppError } from '../../errors.js';

/**
 * Reads the text fields of a multipart/form-data body into req.body, as the urlencoded parser
 * does for a plain form (a signup form may be sent either way): a repeated name gives an array
 * (which the field readers refuse like any non-text), files are skipped unread, and the whole
 * body has the same size limit as any other.
 */
export function multipartFields(limits: { bytes: number; fields: number }): RequestHandler {
  const tooLarge = new AppError(413, 'payload_too_large', `The request body is larger than ${limits.bytes / 1024}kb.`);
  const tooManyFields = new AppError(413, 'too_many_fields', 'The form has too many fields.');
  const unreadable = new AppError(400, 'invalid_body', 'The form could not be read as multipart/form-data.');
  return (req, _res, next) => {
    if (req.method !== 'POST' || !req.is('multipart/form-data')) {
      next();
      return;
    }
    if (Number(req.get('content-length') ?? 0) > limits.bytes) {
      next(tooLarge);
      return;
    }
    let form: busboy.Busboy;
    try {
      form = busboy({ headers: req.headers, limits: { fields: limits.fields, parts: limits.fields, fieldSize: limits.bytes } });
    } catch {
      next(unreadable);
      return;
    }
    // No prototype: a field called __proto__ is a field like any other.
    const fields: Record<string, string | string[]> = Object.create(null);
    let done = false;
    const finish = (error?: AppError) => {
      if (done) return;
      done = true;
      if (error) {
        // Stop parsing; the rest of the body is read and dropped so the answer can be sent.
        req.unpipe(form);
        req.resume();
        next(error);
        return;
      }
      req.body = fields;
      next();
    };
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.bytes) finish(tooLarge);
    });
    form.on('field', (name, value) => {
      const earlier = fields[name];
      fields[name] = earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value];
    });
    form.on('file', (_name, file) => file.resume());
    form.on('fieldsLimit', () => finish(tooManyFields));
    form.on('partsLimit', () => finish(tooManyFields));
    form.on('error', () => finish(unreadable));
    form.on('close', () => finish());
    req.pipe(form);
  };
}
