import { DrizzleQueryError } from 'drizzle-orm';

/**
 * An error's message for the logs. drizzle's query errors carry the SQL and its parameters
 * (addresses among them) in their message: of those, only the driver's own code and message
 * are logged, which name the constraint or the failure but not the values.
 */
export function loggableMessage(error: unknown): string {
  if (error instanceof DrizzleQueryError) {
    const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
    const code = typeof cause?.code === 'string' ? `${cause.code}: ` : '';
    return `database query failed: ${code}${typeof cause?.message === 'string' ? cause.message : 'no detail'}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The error itself for pino's `err` (with its stack), except a query error, whose message says too much. */
export function loggableError(error: unknown): unknown {
  return error instanceof DrizzleQueryError ? { type: 'DrizzleQueryError', message: loggableMessage(error) } : error;
}
