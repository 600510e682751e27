import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from './http.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RunningProcess {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

function run(command: string, args: string[], env: Record<string, string>): RunningProcess {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, output: () => out, exited, kill: (signal) => child.exitCode === null && child.signalCode === null && child.kill(signal) };
}

/** A throwaway Redis without persistence: killing it loses everything, like a crashed cache. */
export async function startRedisServer(port: number): Promise<RunningProcess> {
  const redis = run('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {});
  await waitFor(() => redis.output().includes('Ready to accept connections'), 10_000, `redis-server on port ${port}`);
  return redis;
}

/**
 * The real service as its own process (`node --import tsx src/main.ts [roles…]`), ready once
 * /healthz answers. No roles means both, as `npm start`; `['api']` is `npm start -- api`.
 */
export async function startServiceProcess(env: Record<string, string>, roles: string[] = []): Promise<RunningProcess & { url: string }> {
  const port = Number(env.PORT);
  const service = run(process.execPath, ['--import', 'tsx', 'src/main.ts', ...roles], env);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (service.child.exitCode !== null) throw new Error(`service exited early:\n${service.output()}`);
      return fetch(`${url}/healthz`).then((res) => res.ok, () => false);
    },
    20_000,
    'the service to answer /healthz',
  );
  return { ...service, url };
}

/** The admin CLI as an operator runs it (a child process), with only PATH and the given environment. */
export async function runAdminCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}
