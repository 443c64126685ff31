/**
 * The shim as a subreaper. Once runc has created the container and exited, the container's
 * init has no parent left: the kernel gives it to the nearest ancestor that declared itself a
 * "child subreaper", the shim. When it exits, the kernel tells us with SIGCHLD and keeps it
 * as a zombie until we collect its status with waitpid(2). That status is the container's
 * exit code: nobody else can learn it.
 *
 * Two Node.js pitfalls shape this file:
 * - Node (libuv) waits only for the processes it started itself; orphans handed to us stay
 *   zombies unless we reap them.
 * - waitpid(-1) ("any child") would also steal the statuses of processes child_process
 *   started (our runc calls), whose 'exit' events would then never fire. So we reap by PID,
 *   only zombies that child_process did not start.
 */
import diagnostics from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { setChildSubreaper, waitpidNoHang } from './syscalls.ts';
import { decodeWaitStatus, type DecodedStatus } from './wait-status.ts';

export interface ProcessInfo {
  pid: number;
  /** "R" running, "S" sleeping, "Z" zombie, ... (proc(5), field 3). */
  state: string;
  ppid: number;
}

/** Parse /proc/<pid>/stat; undefined if the process is gone. The command name may hold spaces and ")". */
export function readProcessInfo(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state: fields[0], ppid: Number(fields[1]) };
}

/** Our children, from /proc: every process whose parent is us. */
export function childrenOf(parent: number): ProcessInfo[] {
  const children: ProcessInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcessInfo(Number(entry));
    if (info?.ppid === parent) children.push(info);
  }
  return children;
}

/**
 * Emits 'exit' (pid, DecodedStatus) for every orphan it reaps. Call start() once, early,
 * before anything can be orphaned to us.
 */
export class Reaper extends EventEmitter {
  /** Processes child_process started: libuv reaps those itself. */
  private readonly spawnedByNode = new Set<ChildProcess>();
  private readonly onSpawn = (message: unknown) => {
    // The channel speaks at construction, before the PID exists: keep the object and read
    // its pid when we need it (spawn() sets it before our code runs again).
    const child = (message as { process?: ChildProcess }).process;
    if (!child) return;
    this.spawnedByNode.add(child);
    child.once('exit', () => this.spawnedByNode.delete(child));
  };
  private readonly onSigchld = () => this.reapZombies();

  start(): void {
    setChildSubreaper();
    // child_process announces every spawn on this channel (Node >= 16.18).
    diagnostics.subscribe('child_process', this.onSpawn);
    process.on('SIGCHLD', this.onSigchld);
  }

  stop(): void {
    diagnostics.unsubscribe('child_process', this.onSpawn);
    process.off('SIGCHLD', this.onSigchld);
  }

  /**
   * Reap every zombie child of ours that child_process did not start: waitpid it by PID,
   * decode the status and emit 'exit'. Returns what was reaped. Safe to call any time (a
   * SIGCHLD may stand for several exits, or arrive before we listen).
   */
  reapZombies(): { pid: number; status: DecodedStatus }[] {
    // EXERCISE(reap): find our zombie children that Node did not spawn, waitpid each, emit 'exit'
    // Hints: childrenOf(process.pid) lists them with their state; the pids of
    // this.spawnedByNode are Node's own. waitpidNoHang(pid) returns the raw status once
    // reaped (undefined if not ours to reap after all).
    const reaped: { pid: number; status: DecodedStatus }[] = [];
    const nodePids = new Set([...this.spawnedByNode].map((child) => child.pid));
    for (const child of childrenOf(process.pid)) {
      if (child.state !== 'Z' || nodePids.has(child.pid)) continue;
      const raw = waitpidNoHang(child.pid);
      if (raw === undefined) continue;
      const status = decodeWaitStatus(raw);
      reaped.push({ pid: child.pid, status });
      this.emit('exit', child.pid, status);
    }
    return reaped;
    // END EXERCISE
  }
}
