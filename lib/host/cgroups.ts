/**
 * Which cgroup layout this machine has, and where each hierarchy is mounted.
 *
 * - v1: one hierarchy per controller (/sys/fs/cgroup/memory, /sys/fs/cgroup/pids, ...);
 * - hybrid: the v1 hierarchies plus an (almost) empty cgroup2 at /sys/fs/cgroup/unified;
 * - v2: one unified hierarchy at /sys/fs/cgroup holding every controller.
 * runc handles all three; crun refuses hybrid while a controller (here hugetlb) is enabled
 * in the unified hierarchy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readMounts } from './mountinfo.ts';

export type CgroupMode = 'v1' | 'hybrid' | 'v2' | 'none';

export interface CgroupLayout {
  mode: CgroupMode;
  /** Every mounted hierarchy (v1 controllers and the cgroup2 one). */
  hierarchies: string[];
  /** The cgroup2 mount point, if any. */
  unified?: string;
  /** Controllers enabled in the unified hierarchy. */
  unifiedControllers: string[];
}

export function cgroupLayout(): CgroupLayout {
  const mounts = readMounts();
  const v1 = mounts.filter((m) => m.fsType === 'cgroup').map((m) => m.mountPoint);
  const unified = mounts.find((m) => m.fsType === 'cgroup2')?.mountPoint;
  const unifiedControllers = unified ? readWords(path.join(unified, 'cgroup.controllers')) : [];
  const mode: CgroupMode = v1.length > 0 ? (unified ? 'hybrid' : 'v1') : unified ? 'v2' : 'none';
  return { mode, hierarchies: unified ? [...v1, unified] : v1, unified, unifiedControllers };
}

function readWords(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** True when crun will refuse to start containers ("cgroups in hybrid mode not supported"). */
export function crunBlockedByHybrid(layout = cgroupLayout()): boolean {
  return layout.mode === 'hybrid' && layout.unifiedControllers.length > 0;
}

/** The directories of cgroup `relative` (e.g. "conman-workshop/cmw-1") in every hierarchy that has it. */
export function cgroupDirs(relative: string, layout = cgroupLayout()): string[] {
  return layout.hierarchies.map((h) => path.join(h, relative)).filter((dir) => fs.existsSync(dir));
}

/**
 * Remove a cgroup subtree in every hierarchy: kill what still runs in it, then rmdir from
 * the leaves up (a cgroup directory is removed with rmdir, never rm -r: its files are not
 * real files). Returns the directories removed.
 */
export async function removeCgroupTree(relative: string): Promise<string[]> {
  const removed: string[] = [];
  for (const top of cgroupDirs(relative)) {
    const dirs = subdirsDeepestFirst(top);
    for (const dir of dirs) killAll(dir);
    for (const dir of dirs) {
      for (let attempt = 0; ; attempt++) {
        try {
          fs.rmdirSync(dir);
          removed.push(dir);
          break;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          // EBUSY: killed processes take a moment to leave the cgroup.
          if (code !== 'EBUSY' || attempt >= 50) throw new Error(`cannot remove cgroup ${dir}: ${code}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }
  }
  return removed;
}

function subdirsDeepestFirst(top: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // removed by someone else meanwhile
      throw error;
    }
    for (const entry of entries) {
      if (entry.isDirectory()) walk(path.join(dir, entry.name));
    }
    out.push(dir);
  };
  walk(top);
  return out;
}

function killAll(dir: string): void {
  for (const pid of readWords(path.join(dir, 'cgroup.procs'))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * How many times the kernel's OOM killer struck in a cgroup (e.g. "conman-workshop/x"):
 * v2 counts it in memory.events, v1 in memory.oom_control (both as "oom_kill N").
 */
export function oomKillCount(relative: string, layout = cgroupLayout()): number {
  for (const dir of cgroupDirs(relative, layout)) {
    for (const file of ['memory.events', 'memory.oom_control']) {
      try {
        const match = /^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(dir, file), 'utf8'));
        if (match) return Number(match[1]);
      } catch {
        // not this hierarchy
      }
    }
  }
  return 0;
}
