/**
 * French typography: a no-break space (U+00A0) or a narrow one (U+202F) before ":", ";", "!"
 * and "?", and inside « »; the typographic apostrophe. Returns each fault with its context.
 */
export function frenchTypographyFaults(text: string): string[] {
  const faults: string[] = [];
  const prose = text.replace(/\b[a-z]+:\/\/\S+/g, 'URL');
  for (const match of prose.matchAll(/[:;!?»]/g)) {
    if (!/[\u00a0\u202f]/.test(prose[match.index - 1] ?? ''))
      faults.push(`no no-break space before "${match[0]}": …${prose.slice(Math.max(0, match.index - 20), match.index + 1)}`);
  }
  for (const match of prose.matchAll(/«/g)) {
    if (!/[\u00a0\u202f]/.test(prose[match.index + 1] ?? ''))
      faults.push(`no no-break space after "«": ${prose.slice(match.index, match.index + 20)}…`);
  }
  if (prose.includes("'")) faults.push(`a straight apostrophe: ${prose}`);
  return faults;
}
