/**
 * The exit status file: how the container's end outlives the shim. The shim writes it once,
 * when it reaps the container; the manager reads it, maybe much later, maybe after its own
 * restart (chapter 04), maybe after the shim is gone. conmon writes the same thing (the exit
 * code alone) to --exit-dir; containerd's shim reports it over ttrpc and keeps it in memory.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ExitStatus {
  /** 0-255; 128 + N when signal N killed the container (137 for SIGKILL). */
  exitCode: number;
  /** e.g. "SIGKILL", when a signal killed it. */
  signal?: string;
  /** The kernel's OOM killer ended it (the container's cgroup counted an oom_kill). */
  oomKilled: boolean;
  /** RFC 3339 time the shim reaped it. */
  finishedAt: string;
}

export const EXIT_FILE = 'exit.json';

/**
 * Write `status` as JSON to `<dir>/exit.json` atomically: a reader sees either no file or the
 * whole file, never half of one, even if the shim dies in the middle.
 */
export function writeExitStatus(dir: string, status: ExitStatus): void {
  // EXERCISE(exit-file): write the status to a temporary file in the same folder, flush it, then rename it into place
  // Hints: rename(2) within one filesystem is atomic. fs.fsyncSync(fd) before the rename
  // makes sure the content is on disk before the name points at it.
  const target = path.join(dir, EXIT_FILE);
  const temp = `${target}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w', 0o644);
  try {
    fs.writeSync(fd, JSON.stringify(status) + '\n');
    fs.fsyncSync(fd);
  } catch (error) {
    fs.rmSync(temp, { force: true }); // (a full disk: leave no half-written file behind)
    throw error;
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, target);
  // END EXERCISE
}

/** The status written by writeExitStatus, or undefined while the container has not exited. */
export function readExitStatus(dir: string): ExitStatus | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, EXIT_FILE), 'utf8')) as ExitStatus;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
