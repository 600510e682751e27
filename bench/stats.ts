/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export function clock(): number {
  return performance.timeOrigin + performance.now();
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
