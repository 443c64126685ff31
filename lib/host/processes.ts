/**
 * Host processes by what their command line names: how the workshop, its checks and the
 * manager find a daemon a folder belongs to (a shim, its `runc create`, a registry) when no
 * pid file says so, e.g. after a crash.
 */
import fs from 'node:fs';

/** A process's command line, its words joined by spaces; '' once it is gone. */
export function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Processes (other than us) whose command line names `dir` or something inside it. */
export function processesMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const words = commandLine(Number(entry)).split(' ');
    if (words.some((word) => word === dir || word.startsWith(dir + '/'))) pids.push(Number(entry));
  }
  return pids;
}

/**
 * A conmand's idle pooled shims (chapter 04's shim-pool.ts), booted and waiting: their title
 * is `conman-shim --pool <runRoot>/shim-pool (idle)`. One given a container changes it again.
 */
export function idleShimsOf(runRoot: string): number[] {
  return processesMentioning(`${runRoot}/shim-pool`).filter((pid) => commandLine(pid).endsWith(' (idle)'));
}
