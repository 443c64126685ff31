/**
 * Check runs in progress on this machine: each run's folder names its owner (owner.pid, see
 * lib/host/hygiene.ts). `workshop clean` removes every run; it must not end a check running in
 * another terminal without saying so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RUN_STATE_DIR, RUNS_DIR } from '../host/hygiene.ts';
import { commandLine } from '../host/processes.ts';

export interface LiveRun {
  id: string;
  /** The process that owns the run (a vitest worker). */
  pid: number;
  /** What started it, as `ps` would show: the `workshop check` or `vitest` command above the worker. */
  command: string;
}

function parentOf(pid: number): number {
  try {
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) || 0;
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The topmost workshop or vitest command above a worker: what a person started. */
function startedBy(pid: number): { pid: number; command: string } {
  let best = { pid, command: commandLine(pid) };
  for (let current = parentOf(pid), depth = 0; current > 1 && depth < 10; current = parentOf(current), depth++) {
    const command = commandLine(current);
    if (/lib\/cli\/main\.ts|vitest(\.mjs)?\b/.test(command)) best = { pid: current, command };
  }
  return best;
}

/** Runs whose owner is alive (and is not this process). */
export function liveRuns(): LiveRun[] {
  const ids = [...new Set([RUNS_DIR, RUN_STATE_DIR].flatMap((dir) => (fs.existsSync(dir) ? fs.readdirSync(dir) : [])))];
  const runs: LiveRun[] = [];
  for (const id of ids) {
    let owner = 0;
    for (const dir of [RUNS_DIR, RUN_STATE_DIR]) {
      try {
        owner = Number(fs.readFileSync(path.join(dir, id, 'owner.pid'), 'utf8')) || 0;
        break;
      } catch {
        // ask the other half
      }
    }
    if (!owner || owner === process.pid || !alive(owner)) continue;
    const top = startedBy(owner);
    runs.push({ id, pid: top.pid, command: top.command.slice(0, 120) });
  }
  return runs;
}
