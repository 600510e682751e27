/**
 * One CSV cell. A leading =, +, -, @ (or tab/CR) would make a spreadsheet run the cell as a
 * formula, so it gets a quote prefix; cells with separators, quotes or line breaks are quoted.
 */
export function csvCell(value: string | null): string {
  let text = value ?? '';
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(cells: readonly (string | null)[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}
