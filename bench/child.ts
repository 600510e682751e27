import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

/** A full garbage collection, without starting Node with --expose-gc (for live-memory measures). */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** Profiles of child processes go here when the bench runs with --profile. */
export const PROFILE_DIR = fileURLToPath(new URL('./profiles', import.meta.url));

export interface Child {
  process: ChildProcess;
  /** The first message the child sends once it is ready (its URL, for servers). */
  ready: Record<string, unknown>;
  /** CPU time (user + system, ms) the child has used so far: unaffected by other load on the machine. */
  cpuMs(): Promise<number>;
  /** The child's process.memoryUsage() now (bytes); with `collect`, after a full garbage collection (live memory only). */
  memory(collect?: boolean): Promise<NodeJS.MemoryUsage>;
  /** Asks the child to stop cleanly (so a CPU profile gets written) and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * Runs a bench/*.ts entry in its own Node process, so the load generator, the server under
 * test and the SMTP sink do not share one event loop.
 */
export async function startChild(
  entry: string,
  options: { args?: string[]; env?: Record<string, string>; profile?: string | undefined } = {},
): Promise<Child> {
  const execArgv = ['--import', 'tsx'];
  // One folder per child: tsx's loader thread writes a profile of its own beside the main thread's.
  if (options.profile) execArgv.push('--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}/${options.profile}`);
  const child = fork(fileURLToPath(new URL(entry, import.meta.url)), options.args ?? [], {
    execArgv,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('message', (message) => resolve(message as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code} before it was ready`)));
  });
  return {
    process: child,
    ready,
    cpuMs: () =>
      new Promise<number>((resolve) => {
        const listener = (message: { type?: string; ms?: number }) => {
          if (message?.type !== 'cpu') return;
          child.off('message', listener);
          resolve(message.ms!);
        };
        child.on('message', listener);
        child.send({ type: 'cpu' });
      }),
    memory: (collect = false) =>
      new Promise<NodeJS.MemoryUsage>((resolve) => {
        const listener = (message: { type?: string; usage?: NodeJS.MemoryUsage }) => {
          if (message?.type !== 'memory') return;
          child.off('message', listener);
          resolve(message.usage!);
        };
        child.on('message', listener);
        child.send({ type: 'memory', collect });
      }),
    async stop() {
      if (child.exitCode === null) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** For the child side: answers CPU-time questions; on the stop message calls stop and exits (writing any profile). */
export function onStopMessage(stop: () => Promise<void>): void {
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!({ type: 'cpu', ms: (user + system) / 1000 });
      return;
    }
    if (message?.type === 'memory') {
      if ((message as { collect?: boolean }).collect) collectGarbage();
      process.send!({ type: 'memory', usage: process.memoryUsage() });
      return;
    }
    if (message?.type !== 'stop') return;
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
