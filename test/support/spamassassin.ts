import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export interface SpamVerdict {
  score: number;
  /** The rules that fired, with their points. */
  rules: string[];
  /** SpamAssassin's own report, for a failure message. */
  report: string;
}

const run = promisify(execFile);

/**
 * Scores messages with Debian's SpamAssassin (`spamassassin -t -L`): the shipped rules only,
 * local tests (no DNS blocklists), no Bayes, so a score is the same on every machine. One run
 * for all of them: starting SpamAssassin (loading its rules) is most of its time.
 */
export async function spamAssassin(raws: string[]): Promise<SpamVerdict[]> {
  // Its own HOME: no user preferences or Bayes database of whoever runs the tests.
  const home = mkdtempSync(path.join(tmpdir(), 'optin-spamassassin-'));
  const files = raws.map((raw, i) => {
    const file = path.join(home, `${i}.eml`);
    writeFileSync(file, raw);
    return file;
  });
  const { stdout } = await run('spamassassin', ['-t', '-L', '-x', '--cf=use_bayes 0', '--cf=bayes_auto_learn 0', ...files], {
    env: { ...process.env, HOME: home },
    maxBuffer: 64 * 1024 * 1024,
  }).finally(() => rmSync(home, { recursive: true, force: true }));
  // Each message comes back in order, starting with the header SpamAssassin puts first.
  const outputs = stdout.split(/^(?=X-Spam-Checker-Version:)/m).filter((part) => part.startsWith('X-Spam-Checker-Version:'));
  if (outputs.length !== raws.length)
    throw new Error(`spamassassin returned ${outputs.length} messages for ${raws.length}:\n${stdout.slice(0, 2000)}`);
  return outputs.map((out) => {
    const score = /^X-Spam-Status: .*?score=(-?[\d.]+)/m.exec(out)?.[1];
    if (score === undefined) throw new Error(`spamassassin gave no score:\n${out.slice(0, 2000)}`);
    const report = /Content analysis details:[\s\S]*?\n----[- ]+\n[\s\S]*?(?=\n\s*\n|$)/.exec(out)?.[0] ?? out;
    const rules = [...report.matchAll(/^\s*(-?[\d.]+)\s+([A-Z0-9_]+)\s/gm)].map((m) => `${m[2]} (${m[1]})`);
    return { score: Number(score), rules, report };
  });
}
