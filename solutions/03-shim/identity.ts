/**
 * Who is the shim? A manager that restarts must find its shims again. A PID alone is not
 * enough: once a process is gone, the kernel may give its PID to another one. The pair
 * (PID, start time) is unique: /proc/<pid>/stat field 22 is the start time in clock ticks
 * since boot, which a reused PID cannot share.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot). */
  startTime: number;
}

export const SHIM_PID_FILE = 'shim.json';

export function startTimeOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that ends the command name: state is field 3, starttime field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie (Z) has exited and only waits to be reaped: it is not running any more.
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Record this process's identity in `<dir>/shim.json` (atomically). */
export function writeOwnIdentity(dir: string): ProcessIdentity {
  return writeIdentity(dir, process.pid)!;
}

/** Record process `pid`'s identity in `<dir>/shim.json`; undefined if it is already gone. */
export function writeIdentity(dir: string, pid: number): ProcessIdentity | undefined {
  const startTime = startTimeOf(pid);
  if (startTime === undefined) return undefined;
  const identity = { pid, startTime };
  writeFileAtomic(path.join(dir, SHIM_PID_FILE), JSON.stringify(identity) + '\n');
  return identity;
}

export function readIdentity(dir: string): ProcessIdentity | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, SHIM_PID_FILE), 'utf8')) as ProcessIdentity;
  } catch {
    return undefined;
  }
}

/** Is the process that wrote `identity` still running (and not a stranger with its old PID)? */
export function isAlive(identity: ProcessIdentity): boolean {
  return startTimeOf(identity.pid) === identity.startTime;
}
