/**
 * Host hygiene: every test run gets a unique id; everything it creates on the host is named
 * after it, is removed when the run ends, and is removed by the next run if this one
 * crashed. `workshop clean` removes all of it.
 *
 *   /run/conman-workshop/runs/<run-id>/        bundles, runtime state (--root), logs
 *   /sys/fs/cgroup/<ctrl>/conman-workshop/<run-id>/<container>   cgroups
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CGROUP_PARENT, HOST_RUN_DIR, WORKSHOP_PREFIX } from '../paths.ts';
import { cgroupDirs, removeCgroupTree } from './cgroups.ts';
import { mountsUnder } from './mountinfo.ts';

export const RUNS_DIR = path.join(HOST_RUN_DIR, 'runs');
const RUNTIMES = ['runc', 'crun'] as const;

export class HostRun {
  /** Short on purpose: ids end up in unix socket paths (108 bytes at most). */
  readonly id = `${WORKSHOP_PREFIX}${randomBytes(3).toString('hex')}`;
  readonly dir = path.join(RUNS_DIR, this.id);
  /** Parent cgroup of this run's containers, as an OCI cgroupsPath prefix. */
  readonly cgroupParent = `/${CGROUP_PARENT}/${this.id}`;
  private counter = 0;

  constructor() {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Who owns the run: a later run removes it only once this process is gone.
    fs.writeFileSync(path.join(this.dir, 'owner.pid'), String(process.pid));
  }

  /** A fresh container name and its bundle folder, e.g. cmwa1b2c3-hostname-4. */
  container(label: string): { id: string; bundle: string; cgroupsPath: string } {
    const id = `${this.id}-${label}-${++this.counter}`;
    return { id, bundle: path.join(this.dir, 'bundles', id), cgroupsPath: `${this.cgroupParent}/${id}` };
  }

  stateRoot(runtime: string): string {
    return path.join(this.dir, runtime);
  }

  /** What this run left on the host; empty when it cleaned up after itself. */
  leaks(): string[] {
    return findLeaks(this.dir, `${CGROUP_PARENT}/${this.id}`);
  }

  /** Remove everything of this run. */
  async cleanup(): Promise<string[]> {
    return removeRun(this.id);
  }

  /** Stop what a failed test left running (containers, daemons, cgroups, mounts); keep the files. */
  async removeLeftovers(): Promise<string[]> {
    return removeTree(this.dir, `${CGROUP_PARENT}/${this.id}`, { keepFiles: true });
  }
}

/** Containers still known to a runtime, mounts, and container cgroups left by a run. */
export function findLeaks(runDir: string, cgroupRelative: string): string[] {
  const leaks: string[] = [];
  for (const runtime of RUNTIMES) {
    for (const id of listRuntimeContainers(runtime, path.join(runDir, runtime))) {
      leaks.push(`${runtime} container ${id}`);
    }
  }
  for (const pid of processesMentioning(runDir)) leaks.push(`process ${pid} (${commandLine(pid).slice(0, 80)})`);
  for (const mount of mountsUnder(runDir)) leaks.push(`mount ${mount}`);
  for (const dir of cgroupDirs(cgroupRelative)) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) leaks.push(`cgroup ${path.join(dir, entry.name)}`);
    }
  }
  return leaks;
}

function listRuntimeContainers(runtime: string, stateRoot: string): string[] {
  if (!fs.existsSync(stateRoot)) return [];
  try {
    const out = execFileSync(runtime, ['--root', stateRoot, 'list', '-q'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n').filter(Boolean);
  } catch {
    // The runtime is missing or cannot read the folder: fall back to its folder names.
    return fs.readdirSync(stateRoot);
  }
}

function commandLine(pid: number): string {
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

/** Force-delete the runtime's containers, unmount, remove cgroups and files of one run. */
export async function removeRun(runId: string): Promise<string[]> {
  const runDir = path.join(RUNS_DIR, runId);
  const removed = await removeTree(runDir, `${CGROUP_PARENT}/${runId}`);
  removeEmptySharedParents();
  return removed;
}

/**
 * The folders and the parent cgroup that runs share go too, once nothing else uses them:
 * rmdir refuses a folder or a cgroup that still has something in it.
 */
export function removeEmptySharedParents(): void {
  const candidates = [
    ...cgroupDirs(CGROUP_PARENT),
    ...RUNTIMES.map((runtime) => path.join(HOST_RUN_DIR, runtime)),
    RUNS_DIR,
    HOST_RUN_DIR,
  ];
  for (const dir of candidates) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // still in use (another run, or the learner's own containers)
    }
  }
}

/** Delete the runtimes' containers kept under `dir`, the cgroup subtree, the mounts, the folder. */
export async function removeTree(dir: string, cgroupRelative: string, options: { keepFiles?: boolean } = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const runtime of RUNTIMES) {
    const stateRoot = path.join(dir, runtime);
    for (const id of listRuntimeContainers(runtime, stateRoot)) {
      try {
        execFileSync(runtime, ['--root', stateRoot, 'delete', '--force', id], { stdio: 'ignore' });
      } catch {
        // best effort: the cgroup removal below kills whatever is left
      }
      removed.push(`${runtime} container ${id}`);
    }
  }
  // Daemons the run started (shims, a registry...) name its folder on their command line.
  for (const pid of processesMentioning(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
      removed.push(`process ${pid}`);
    } catch {
      // already gone
    }
  }
  removed.push(...(await removeCgroupTree(cgroupRelative)).map((cgroup) => `cgroup ${cgroup}`));
  for (const mount of mountsUnder(dir)) {
    execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    removed.push(`mount ${mount}`);
  }
  if (!options.keepFiles && fs.existsSync(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(`dir ${dir}`);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the leftovers of runs whose owner process is gone (a crashed or killed test run).
 * With `all`, remove every run, alive or not, and the workshop's default runtime roots:
 * that is `workshop clean`.
 */
export async function removeStaleRuns(options: { all?: boolean } = {}): Promise<string[]> {
  const removed: string[] = [];
  const runIds = fs.existsSync(RUNS_DIR) ? fs.readdirSync(RUNS_DIR) : [];
  for (const runId of runIds) {
    const ownerFile = path.join(RUNS_DIR, runId, 'owner.pid');
    const owner = Number(fs.existsSync(ownerFile) ? fs.readFileSync(ownerFile, 'utf8') : 0);
    if (options.all || !owner || !isAlive(owner)) removed.push(...(await removeRun(runId)));
  }
  // Cgroups of runs whose folder is already gone.
  for (const top of cgroupDirs(CGROUP_PARENT)) {
    for (const entry of fs.readdirSync(top, { withFileTypes: true })) {
      if (!entry.isDirectory() || runIds.includes(entry.name)) continue;
      if (options.all || entry.name.startsWith(WORKSHOP_PREFIX)) {
        const relative = `${CGROUP_PARENT}/${entry.name}`;
        removed.push(...(await removeCgroupTree(relative)).map((dir) => `cgroup ${dir}`));
      }
    }
  }
  // `workshop clean`: the learner's own containers too (default runtime roots, all cgroups).
  if (options.all) removed.push(...(await removeTree(HOST_RUN_DIR, CGROUP_PARENT)));
  return removed;
}

