import { AppError } from '../../errors.js';

/**
 * Reads one optional text field from a parsed body. Anything but a string (arrays, objects,
 * numbers) is refused, as are control characters, which have no place in any field we take.
 */
export function optionalText(body: unknown, field: string, maxLength: number): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  if (!Object.hasOwn(body, field)) return undefined;
  const value = (body as Record<string, unknown>)[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AppError(400, 'invalid_field', `The field "${field}" must be text.`);
  if (value.length > maxLength) throw new AppError(400, 'field_too_long', `The field "${field}" is longer than ${maxLength} characters.`);
  // C0 and C1 controls and the Unicode line/paragraph separators: nothing that could end a line.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) {
    throw new AppError(400, 'invalid_field', `The field "${field}" contains control characters.`);
  }
  return value;
}

export function requiredText(body: unknown, field: string, maxLength: number, code = 'missing_field'): string {
  const value = optionalText(body, field, maxLength);
  if (value === undefined || value.trim() === '') throw new AppError(400, code, `The field "${field}" is required.`);
  return value;
}
