// The service as an operator runs it: `npm start` (node dist/main.js, compiled, both roles), not
// tsx in a forked child. Its CPU is read from /proc, since it speaks no IPC.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { processCpuMs } from './cpu.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface StartedService {
  process: ChildProcess;
  url: string;
  /** CPU time (user + system, ms) the process has used so far. */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

let built = false;
/** `npm run build` once per bench run, so dist/ is the code under test. */
export function buildOnce(): void {
  if (built) return;
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  built = true;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts `node [nodeArgs] dist/main.js` with `env` (PORT chosen here) and waits until /readyz answers 200. */
export async function startNpmStart(env: Record<string, string>, nodeArgs: string[] = []): Promise<StartedService> {
  buildOnce();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...nodeArgs, 'dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode} before it was ready`);
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('npm start was not ready within 60 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    process: child,
    url,
    cpuMs: async () => processCpuMs(child.pid!),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
