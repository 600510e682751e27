import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { waitFor } from './http.js';
import { folderDatabase, TEST_ON_POSTGRES } from './postgres.js';

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
export async function startRedisServer(port: number, extraArgs: string[] = []): Promise<RunningProcess> {
  const redis = run('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {});
  await waitFor(() => redis.output().includes('Ready to accept connections'), 10_000, `redis-server on port ${port}`);
  return redis;
}

export interface RedisCluster {
  /** The seed node's URL, for REDIS_URL with REDIS_CLUSTER=true. */
  url: string;
  ports: number[];
  /** Kills the nodes and removes their folder. */
  stop(): Promise<void>;
}

/** Whether something can listen on 127.0.0.1:port now. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port for a cluster node: its bus listens on port + 10000, so both must be free. Drawn from
 * 10000–22767, which keeps both below the range the kernel hands out for outgoing connections.
 */
async function freeClusterPort(taken: readonly number[]): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 12_768);
    if (taken.includes(port)) continue;
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error('found no free pair of ports (node and cluster bus) between 10000 and 32767');
}

/**
 * A Redis Cluster of `size` masters on loopback, as docs/deployment.md makes one: redis-server
 * --cluster-enabled yes per node, joined by redis-cli --cluster create. Nothing is persisted;
 * the nodes' cluster files live in a folder of their own. Ready once every node says
 * cluster_state:ok. Without redis-server or redis-cli it fails, saying so.
 */
export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  for (const binary of ['redis-server', 'redis-cli']) {
    await promisify(execFile)(binary, ['--version']).catch((error: Error) => {
      throw new Error(
        `${binary} is needed for the Redis Cluster test and did not run (${error.message}); install redis-server and redis-tools`,
      );
    });
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'optin-redis-cluster-'));
  const nodes: RunningProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const node of nodes) node.kill('SIGKILL');
    await Promise.all(nodes.map((node) => node.exited));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      const port = await freeClusterPort(ports);
      ports.push(port);
      nodes.push(await startRedisServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir]));
    }
    await promisify(execFile)(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    );
    const clients = ports.map((port) => new Redis(port, '127.0.0.1'));
    try {
      for (const client of clients) {
        await waitFor(async () => String(await client.cluster('INFO')).includes('cluster_state:ok'), 20_000, 'cluster_state:ok');
      }
    } finally {
      for (const client of clients) client.disconnect();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${ports[0]}`, ports, stop };
}

/**
 * In the `postgres` project, a process given a DATABASE_PATH (and no DATABASE_URL) runs on the
 * PostgreSQL database of that file's folder, the one startTestService uses for the same folder.
 * The database stays when the process ends; the project's teardown drops it once the folder is gone.
 */
async function onTestDatabase(env: Record<string, string>): Promise<Record<string, string>> {
  if (!TEST_ON_POSTGRES || env.DATABASE_PATH === undefined || 'DATABASE_URL' in env) return env;
  return { ...env, DATABASE_URL: await folderDatabase(path.dirname(path.resolve(env.DATABASE_PATH))) };
}

/**
 * The real service as its own process (`node --import tsx src/main.ts [roles…]`), ready once
 * /healthz answers. No roles means both, as `npm start`; `['api']` is `npm start -- api`.
 */
export async function startServiceProcess(env: Record<string, string>, roles: string[] = []): Promise<RunningProcess & { url: string }> {
  const port = Number(env.PORT);
  const service = run(process.execPath, ['--import', 'tsx', 'src/main.ts', ...roles], await onTestDatabase(env));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (service.child.exitCode !== null) throw new Error(`service exited early:\n${service.output()}`);
      return fetch(`${url}/healthz`).then(
        (res) => res.ok,
        () => false,
      );
    },
    20_000,
    'the service to answer /healthz',
  );
  return { ...service, url };
}

/**
 * The admin CLI as an operator runs it (a child process), with only PATH and the given
 * environment (and, in the `postgres` project, the DATABASE_URL of DATABASE_PATH's folder).
 */
export async function runAdminCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  env = await onTestDatabase(env);
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
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

/**
 * A worker-only process (`npm start -- worker`: `node --import tsx src/main.ts worker`). It
 * serves no HTTP, so it counts as started once it logs "optin started" (LOG_LEVEL info or lower).
 */
export async function startWorkerProcess(env: Record<string, string>): Promise<RunningProcess> {
  const worker = run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'worker'], await onTestDatabase(env));
  try {
    await waitFor(
      () => {
        if (worker.child.exitCode !== null) throw new Error(`worker exited early:\n${worker.output()}`);
        return worker.output().includes('"msg":"optin started"');
      },
      30_000,
      'the worker to start',
    );
  } catch (error) {
    // Not left running when the caller never gets hold of it.
    worker.kill('SIGKILL');
    throw error;
  }
  return worker;
}
