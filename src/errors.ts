/**
 * An error meant for the person or program that made the request: it carries the HTTP status,
 * a stable machine-readable code and a sentence a human can act on.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** More for programs, beside code and message in the error body (e.g. a typo's `suggestion`). */
    readonly details?: Readonly<Record<string, string | number>>,
  ) {
    super(message);
  }
}
