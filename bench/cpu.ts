// CPU time outside the service process, for "what limits the numbers": the PostgreSQL backends
// serving one database, and the whole machine (which on a shared host includes other work).
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { POSTGRES_ADMIN_URL } from '../test/support/postgres.js';

/** Linux clock ticks per second for /proc times (USER_HZ, 100 on every common kernel). */
const TICKS_PER_SECOND = 100;

/** utime + stime of a process in ms, or 0 when it is gone or /proc is not readable (another OS, another container). */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), counted from field 3: utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * CPU used so far by the server processes (backends) connected to `database`, in ms: what the
 * PostgreSQL server spends for the service. Needs the server on this machine (it is, for the bench).
 * Background processes (WAL writer, checkpointer) are not counted.
 */
export async function postgresBackendsCpuMs(database: string): Promise<number> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [database],
    );
    return rows.reduce((sum, row) => sum + processCpuMs(row.pid), 0);
  } finally {
    await client.end();
  }
}

/** Busy and total CPU time of the machine so far (all cores), in ms, from /proc/stat; zeros where unreadable. */
export function machineCpuMs(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = ticks[3]! + ticks[4]!;
    return { busy: ((total - idle) * 1000) / TICKS_PER_SECOND, total: (total * 1000) / TICKS_PER_SECOND };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** This process's CPU so far, in ms (user + system): the load generator's and SMTP sink's share. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
