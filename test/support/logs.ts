/** What a service logged, line by line (pass `logs` as startTestService's `logTo`). */
export interface CapturedLogs {
  write(line: string): void;
  /** Every line so far, as written (JSON). */
  text(): string;
  /** Every line so far, parsed. */
  entries(): Record<string, unknown>[];
}

export function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  return {
    write: (line) => void lines.push(line),
    text: () => lines.join(''),
    entries: () =>
      lines
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
