/**
 * A one-line progress bar on stderr, redrawn at most every 100 ms; without a terminal (a log,
 * a pipe) only the final line is written.
 */
export function progressBar(label: string, total: number | undefined, stream: NodeJS.WriteStream = process.stderr) {
  let drawnAt = 0;
  const line = (done: number) => {
    if (!total) return `${label} ${done}`;
    const share = Math.min(1, done / total);
    const filled = Math.round(share * 30);
    return `${label} [${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${Math.floor(share * 100)}% ${done}/${total}`;
  };
  return {
    update(done: number) {
      if (!stream.isTTY || Date.now() - drawnAt < 100) return;
      drawnAt = Date.now();
      stream.write(`\r${line(done)}`);
    },
    finish(done: number, unit = '') {
      stream.write(`${stream.isTTY ? '\r' : ''}${line(done)}${unit}\n`);
    },
  };
}
