/**
 * A full disk is an operator's bad day, not a bug: the manager must keep going, say clearly
 * what failed, and never leave its memory saying one thing and its records another.
 *
 * - Every write of a record that fails with ENOSPC (or EDQUOT, a quota) becomes a 507
 *   "Insufficient Storage" that names the file and says "no space left on device"; the
 *   change is undone in memory (Manager.update), so memory and disk still agree.
 * - conmand opens read-mostly on a full disk and says so: ps, inspect, logs, attach, kill and
 *   rm work (rm frees space); create, start and stop answer 507 until space is freed. An
 *   exit that cannot be recorded is retried until it can: the shim keeps it meanwhile.
 *
 * dockerd and containerd simply fail the request with the write's error; podman's SQLite
 * rolls its transaction back. Ours names the path and the fix as well.
 */
import fs from 'node:fs';
import { ManagerError } from './errors.ts';

/** Less free space than this (bytes, for root) counts as full: a record is about 1 KiB. */
export const LOW_SPACE_BYTES = 64 * 1024;

export function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** `error` as a 507 naming the file, when it is a full disk; else `error` itself. */
export function explainNoSpace(error: unknown, file: string): unknown {
  if (!isNoSpace(error)) return error;
  return new ManagerError(507, `cannot write ${(error as NodeJS.ErrnoException).path ?? file}: no space left on device; free some space on that filesystem (df ${file}), then try again`);
}

/** For each folder on a (nearly) full filesystem, a line saying so; empty when all have room. */
export function lowSpace(dirs: string[]): string[] {
  const problems: string[] = [];
  for (const dir of new Set(dirs)) {
    try {
      const stats = fs.statfsSync(dir);
      const free = stats.bavail * stats.bsize;
      if (free < LOW_SPACE_BYTES) problems.push(`${dir}: no space left on device (${Math.floor(free / 1024)} KiB free)`);
    } catch {
      // a folder we cannot stat is another problem, reported where it is used
    }
  }
  return problems;
}
