/**
 * A pod's cgroup: the parent of its containers' cgroups, holding the pod's limits. A limit on
 * a parent bounds all of its children together: two containers under a 64 MiB pod share
 * 64 MiB, whatever each one's own limit. This is how kubelet builds its tree
 * (kubepods/burstable/pod<UID>/<container>), and what `podman pod create --memory` makes.
 *
 * The runtime makes a container's own cgroup (its cgroupsPath, under this one), but not the
 * parent's limits: those are written here, before the first container starts.
 *
 *   cgroup v2 (one hierarchy): memory.max, cpu.max "QUOTA PERIOD"; and a parent must hand
 *             the controllers down (cgroup.subtree_control "+cpu +memory +pids"), from the
 *             root to the pod, or the files do not exist
 *   cgroup v1 (one hierarchy per controller): memory/…/memory.limit_in_bytes,
 *             cpu,cpuacct/…/cpu.cfs_quota_us and cpu.cfs_period_us
 */
import fs from 'node:fs';
import path from 'node:path';
import { cgroupLayout } from '#lib/host/cgroups.ts';
import { notImplemented } from '#lib/not-implemented.ts';

export interface PodLimits {
  /** Bytes, or undefined: no limit. */
  memory?: number;
  /** CPUs as a decimal (1.5 = one and a half CPUs' time per period), or undefined. */
  cpus?: number;
}

export interface PodStats {
  /** The pod's memory use now, bytes (every container together). */
  memoryBytes: number;
  memoryLimitBytes?: number;
  /** CPU time used since the pod's cgroup was made, microseconds. */
  cpuMicros: number;
  /** Processes in the pod now. */
  pids: number;
  /** How many times the OOM killer struck inside the pod (cgroup v2 keeps the count; undefined on v1, see Pods.stats). */
  oomKills?: number;
}

/** The CFS period: the quota is a share of it (100 ms, the kernel's default and everyone's). */
const CPU_PERIOD_US = 100_000;
/** The controllers a pod's children are given on cgroup v2. */
const V2_CONTROLLERS = ['cpu', 'memory', 'pids'];

function write(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch (error) {
    throw new Error(`cannot write "${value}" to ${file}: ${(error as Error).message}`);
  }
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** One write into the pod's cgroup folder: the file (named as the kernel names it) and its value. */
export interface LimitFile {
  file: string;
  value: string;
}

/**
 * The files that hold the pod's limits, and what to write in them, for cgroup v2 or v1. A
 * limit not asked for is written as "no limit" (a pod started again with other limits must
 * not keep the old ones):
 *   v2  memory.max: bytes, or "max";  cpu.max: "QUOTA PERIOD" in µs, or "max PERIOD"
 *   v1  memory.limit_in_bytes: bytes, or "-1";  cpu.cfs_period_us: PERIOD, then
 *       cpu.cfs_quota_us: QUOTA, or "-1" (the period first: the kernel checks the quota against it)
 * QUOTA is the CPUs' share of the period: 0.5 CPUs of 100000 µs is 50000 µs, rounded.
 */
export function limitFiles(limits: PodLimits, version: 'v1' | 'v2'): LimitFile[] {
  // EXERCISE(limit-files): the limit files of a pod cgroup and their values, in cgroup v2's or v1's words
  // Hints: CPU_PERIOD_US is the period; quota = Math.round(cpus * CPU_PERIOD_US). v2 gives two
  // entries (memory.max, cpu.max), v1 three (memory.limit_in_bytes, cpu.cfs_period_us,
  // cpu.cfs_quota_us), in that order; every value is a string.
  throw notImplemented("07-pods/limit-files", "the limit files of a pod cgroup and their values, in cgroup v2's or v1's words");
  // END EXERCISE
}

/** The pod's cgroup, from the root of each hierarchy ("conman/pod-<id>"). */
export function podCgroupPath(cgroupParent: string, podId: string): string {
  return `${cgroupParent.replace(/^\/+|\/+$/g, '')}/pod-${podId}`;
}

/** Make the pod's cgroup in every hierarchy and write its limits. Idempotent (a pod started again). */
export function createPodCgroup(relative: string, limits: PodLimits): void {
  const layout = cgroupLayout();
  if (layout.mode === 'v2') {
    // Hand the controllers down from the root to the pod, one level at a time.
    let dir = layout.unified!;
    for (const part of relative.split('/')) {
      const enabled = (readText(path.join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/);
      const available = (readText(path.join(dir, 'cgroup.controllers')) ?? '').split(/\s+/);
      const missing = V2_CONTROLLERS.filter((name) => available.includes(name) && !enabled.includes(name));
      if (missing.length > 0) write(path.join(dir, 'cgroup.subtree_control'), missing.map((name) => `+${name}`).join(' '));
      dir = path.join(dir, part);
      fs.mkdirSync(dir, { recursive: true });
    }
    for (const { file, value } of limitFiles(limits, 'v2')) write(path.join(dir, file), value);
    return;
  }
  // v1 (or hybrid: the v1 hierarchies hold the controllers). Each file is in its controller's
  // hierarchy (memory/, cpu,cpuacct/); the others (pids/...) get the folder too, so that every
  // hierarchy has the same tree.
  const writes = limitFiles(limits, 'v1');
  for (const hierarchy of layout.hierarchies) {
    if (hierarchy === layout.unified) continue;
    const dir = path.join(hierarchy, relative);
    fs.mkdirSync(dir, { recursive: true });
    for (const { file, value } of writes) if (fs.existsSync(path.join(dir, file))) write(path.join(dir, file), value);
  }
}

/** What the pod uses now, from its cgroup (v2's files, or v1's per-controller ones). */
export function readPodStats(relative: string): PodStats {
  const layout = cgroupLayout();
  const find = (file: string) => {
    for (const hierarchy of layout.hierarchies) {
      const text = readText(path.join(hierarchy, relative, file));
      if (text !== undefined) return text;
    }
    return undefined;
  };
  const number = (text: string | undefined) => (text === undefined || text === 'max' || Number(text) < 0 ? undefined : Number(text));
  const cpuStat = find('cpu.stat');
  const usageUsec = /^usage_usec (\d+)$/m.exec(cpuStat ?? '')?.[1];
  const cpuNanos = find('cpuacct.usage');
  const limit = number(find('memory.max')) ?? number(find('memory.limit_in_bytes'));
  // v2 counts a child's OOM kills in its parent's memory.events too (hierarchical); v1 only in
  // the killed process's own cgroup, which is removed with its container.
  const events = find('memory.events');
  return {
    memoryBytes: number(find('memory.current')) ?? number(find('memory.usage_in_bytes')) ?? 0,
    // v1 says "no limit" with the largest page-aligned number
    ...(limit !== undefined && limit < 2 ** 62 ? { memoryLimitBytes: limit } : {}),
    cpuMicros: usageUsec !== undefined ? Number(usageUsec) : cpuNanos !== undefined ? Math.round(Number(cpuNanos) / 1000) : 0,
    pids: number(find('pids.current')) ?? 0,
    ...(events !== undefined ? { oomKills: Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? 0) } : {}),
  };
}
