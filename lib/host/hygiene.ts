/**
 * Host hygiene: every test run gets a unique id; everything it creates on the host is named
 * after it, is removed when the run ends, and is removed by the next run if this one
 * crashed. `workshop clean` removes all of it.
 *
 *   /var/lib/conman-workshop/runs/<run-id>/    bundles, rootfs, logs (what containers execute)
 *   /run/conman-workshop/runs/<run-id>/        runtime state (--root), shims' sockets and exit files
 *   /sys/fs/cgroup/<ctrl>/conman-workshop/<run-id>/<container>   cgroups
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CGROUP_PARENT, HOST_LIB_DIR, HOST_RUN_DIR, WORKSHOP_PREFIX } from '../paths.ts';
import { cgroupDirs, removeCgroupTree } from './cgroups.ts';
import { mountsUnder } from './mountinfo.ts';
import { commandLine, processesMentioning } from './processes.ts';
import { allocateRunNetwork, networkLeaks, removeNetworkLeftovers, removeNetworksNamed, removeOrphanPortmapChains, type RunNetwork } from './networks.ts';

export { processesMentioning };

/** A run's files: bundles, rootfs, logs. Never under /run (noexec on most Debian 12 machines). */
export const RUNS_DIR = path.join(HOST_LIB_DIR, 'runs');
/** A run's run-time state: the runtimes' --root, sockets. */
export const RUN_STATE_DIR = path.join(HOST_RUN_DIR, 'runs');
const RUNTIMES = ['runc', 'crun'] as const;

export class HostRun {
  /** Short on purpose: ids end up in unix socket paths (108 bytes at most). */
  readonly id = `${WORKSHOP_PREFIX}${randomBytes(3).toString('hex')}`;
  /** Bundles, rootfs, logs: anything a container executes lives here. */
  readonly dir = path.join(RUNS_DIR, this.id);
  /** Run-time state only (the runtimes' --root, shims' folders, sockets). */
  readonly stateDir = path.join(RUN_STATE_DIR, this.id);
  /** Parent cgroup of this run's containers, as an OCI cgroupsPath prefix. */
  readonly cgroupParent = `/${CGROUP_PARENT}/${this.id}`;
  private counter = 0;

  constructor() {
    // Who owns the run: a later run removes it only once this process is gone.
    for (const dir of [this.dir, this.stateDir]) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(dir, 'owner.pid'), String(process.pid));
    }
  }

  /** A fresh container name and its bundle folder, e.g. cmwa1b2c3-hostname-4. */
  container(label: string): { id: string; bundle: string; cgroupsPath: string } {
    const id = `${this.id}-${label}-${++this.counter}`;
    return { id, bundle: path.join(this.dir, 'bundles', id), cgroupsPath: `${this.cgroupParent}/${id}` };
  }

  /** A network of this run's own (name, bridge, a free /24), recorded so a crashed run's is cleaned up too (networks.ts). */
  network(label: string): RunNetwork {
    return allocateRunNetwork(this.dir, this.id, label);
  }

  stateRoot(runtime: string): string {
    return path.join(this.stateDir, runtime);
  }

  /** What this run left on the host; empty when it cleaned up after itself. */
  leaks(): string[] {
    return findLeaks([this.dir, this.stateDir], `${CGROUP_PARENT}/${this.id}`);
  }

  /** Remove everything of this run. */
  async cleanup(): Promise<string[]> {
    return removeRun(this.id);
  }

  /** Stop what a failed test left running (containers, daemons, cgroups, mounts); keep the files. */
  async removeLeftovers(): Promise<string[]> {
    return removeTree([this.dir, this.stateDir], `${CGROUP_PARENT}/${this.id}`, { keepFiles: true });
  }
}

/** Containers still known to a runtime, mounts, and container cgroups left by a run. */
export function findLeaks(runDirs: string[], cgroupRelative: string): string[] {
  const leaks: string[] = [];
  for (const runDir of runDirs) {
    for (const runtime of RUNTIMES) {
      for (const id of listRuntimeContainers(runtime, path.join(runDir, runtime))) {
        leaks.push(`${runtime} container ${id}`);
      }
    }
    for (const pid of processesMentioning(runDir)) leaks.push(`process ${pid} (${commandLine(pid).slice(0, 80)})`);
    for (const mount of mountsUnder(runDir)) leaks.push(`mount ${mount}`);
  }
  leaks.push(...networkLeaks(runDirs));
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

/** Force-delete the runtime's containers, unmount, remove cgroups and files of one run. */
export async function removeRun(runId: string): Promise<string[]> {
  const removed = await removeTree([path.join(RUNS_DIR, runId), path.join(RUN_STATE_DIR, runId)], `${CGROUP_PARENT}/${runId}`);
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
    RUN_STATE_DIR,
    HOST_LIB_DIR,
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

/**
 * Delete the runtimes' containers kept under `dirs`, the cgroup subtree, the mounts, the
 * folders. A run has two folders (its files under /var/lib, its state under /run).
 */
export async function removeTree(dirs: string[], cgroupRelative: string, options: { keepFiles?: boolean } = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of dirs) {
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
  }
  removed.push(...(await removeCgroupTree(cgroupRelative)).map((cgroup) => `cgroup ${cgroup}`));
  // Networks after the processes (nothing re-adds a rule now), before the netns files are unmounted.
  removed.push(...removeNetworkLeftovers(dirs));
  for (const dir of dirs) {
    for (const mount of mountsUnder(dir)) {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
      removed.push(`mount ${mount}`);
    }
    if (!options.keepFiles && fs.existsSync(dir)) {
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(`dir ${dir}`);
    }
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
  // Other runs may start and end while this runs (the suite runs two files at a time, and the
  // exercise checks start vitest inside vitest): every listing may be stale by the next line.
  const runIds = [...new Set([RUNS_DIR, RUN_STATE_DIR].flatMap(listNames))];
  for (const runId of runIds) {
    const owner = runOwner(runId);
    if (options.all || (owner ? !isAlive(owner) : !beingCreated(runId))) removed.push(...(await removeRun(runId)));
  }
  // Cgroups of runs whose folder is already gone.
  for (const top of cgroupDirs(CGROUP_PARENT)) {
    for (const name of listNames(top)) {
      // A run that started after the listing above has its folders (made before any cgroup): not a leftover.
      if (runIds.includes(name) || [RUNS_DIR, RUN_STATE_DIR].some((dir) => fs.existsSync(path.join(dir, name)))) continue;
      if (!fs.statSync(path.join(top, name), { throwIfNoEntry: false })?.isDirectory()) continue;
      if (options.all || name.startsWith(WORKSHOP_PREFIX)) {
        removed.push(...(await removeCgroupTree(`${CGROUP_PARENT}/${name}`)).map((dir) => `cgroup ${dir}`));
      }
    }
  }
  removed.push(...removeOrphanRuntimeLogs());
  // `workshop clean`: the learner's own containers too (default runtime roots, all cgroups).
  if (options.all) {
    removed.push(...(await removeTree(workshopFolders(), CGROUP_PARENT)));
    removed.push(...removeNetworksNamed(WORKSHOP_PREFIX)); // the lessons' networks, and any a run did not record
    removed.push(...removeOrphanPortmapChains());
  }
  return removed;
}

/**
 * The runtime error logs of processes killed in the middle of a runtime call. Chapter 02's
 * `invoke` gives each call its own `<tmp>/<runtime>-log-<pid>-<random>.json` and removes it
 * in a `finally`, which a SIGKILL (the checks kill shims and daemons on purpose) never runs.
 * A file whose pid is gone is such a leftover, and so is one older than an hour (no runtime
 * call lasts that long; its pid may have been given to another process since).
 */
export function removeOrphanRuntimeLogs(dir = os.tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of listNames(dir)) {
    const owner = /^(?:runc|crun)-log-(\d+)-[a-z0-9]+\.json$/.exec(name)?.[1];
    if (!owner) continue;
    const age = Date.now() - (fs.statSync(path.join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (isAlive(Number(owner)) && age < 3_600_000) continue;
    fs.rmSync(path.join(dir, name), { force: true });
    removed.push(`runtime log ${path.join(dir, name)}`);
  }
  return removed;
}

/** Folders kept by `workshop vm-test` (a guest image takes minutes to build): `clean` leaves them. */
const KEPT_BY_CLEAN = new Set(['vm']);

/** Everything `workshop clean` removes: the state under /run, the files under /var/lib but the VM cache. */
function workshopFolders(): string[] {
  const libEntries = fs.existsSync(HOST_LIB_DIR) ? fs.readdirSync(HOST_LIB_DIR).filter((name) => !KEPT_BY_CLEAN.has(name)) : [];
  return [HOST_RUN_DIR, ...libEntries.map((name) => path.join(HOST_LIB_DIR, name))];
}

/** A folder's entries; none when it is gone (another run removed it a moment ago). */
function listNames(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** A run whose folder is younger than this and has no owner.pid yet is being made (HostRun's constructor), not left over. */
const CREATION_GRACE_MS = 60_000;

function beingCreated(runId: string): boolean {
  return [RUNS_DIR, RUN_STATE_DIR].some((dir) => {
    const stat = fs.statSync(path.join(dir, runId), { throwIfNoEntry: false });
    return stat !== undefined && Date.now() - stat.mtimeMs < CREATION_GRACE_MS;
  });
}

/** The pid that owns a run, from either of its folders; 0 when neither says. */
function runOwner(runId: string): number {
  for (const dir of [RUNS_DIR, RUN_STATE_DIR]) {
    try {
      return Number(fs.readFileSync(path.join(dir, runId, 'owner.pid'), 'utf8')) || 0;
    } catch {
      // this half of the run is gone (or was never made); ask the other
    }
  }
  return 0;
}

