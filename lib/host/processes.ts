/**
 * Host processes by what their command line names: how the workshop, its checks and the
 * manager find a daemon a folder belongs to (a shim, its `runc create`, a registry) when no
 * pid file says so, e.g. after a crash; and how a vitest run is ended with every worker and
 * process it started (its own process group).
 */
import fs from 'node:fs';
import { parentPid } from './proc-stat.ts';

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

/** SIGTERM a process group now, SIGKILL it a moment later. */
export function stopProcessGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return; // the group is gone
  }
  setTimeout(() => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
  }, 1500).unref();
}

/** SIGKILL what is left of a process group and wait (up to 5 s) until none of it remains. */
export async function endProcessGroup(pgid: number): Promise<void> {
  if (!pgid) return;
  for (let round = 0; round < 100; round++) {
    try {
      process.kill(-pgid, round === 0 ? 'SIGKILL' : 0);
    } catch {
      return; // no process left in the group
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * End a process and all its descendants: SIGTERM to it (a vitest run then writes what it has),
 * SIGKILL to every one of them `graceMs` later. The descendants are found by their parent pids
 * first: once their parent is gone they are adopted by init and can no longer be told apart.
 * For a nested vitest run out of time, whose workers would outlive it. It stays in the
 * caller's process group, so a Ctrl-C of the whole suite still reaches it.
 */
export function killTree(root: number, graceMs = 3000): void {
  const tree = processTree(root);
  const signal = (pid: number, name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  };
  signal(root, 'SIGTERM');
  setTimeout(() => tree.forEach((pid) => signal(pid, 'SIGKILL')), graceMs).unref();
}

/** A process and its descendants (by parent pid, read from every /proc/PID/stat now), the root first. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const parent = parentPid(Number(name));
    if (parent) children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
  }
  const tree: number[] = [];
  for (let queue = [root]; queue.length; ) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}
