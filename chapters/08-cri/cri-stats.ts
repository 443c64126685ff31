/**
 * ContainerStats and PodSandboxStats, read from the cgroups (chapter 07's readPodStats reads
 * any cgroup: a pod's, or one container's). kubelet's summary API, `kubectl top` and the
 * eviction manager live on these numbers. CPU is cumulative (nanoseconds of CPU time); the
 * rate (usage_nano_cores) needs two samples, which kubelet takes itself: we leave it unset.
 * The working set is the memory in use (what the OOM killer counts against the limit).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerInfo } from '#lower/04-manager/container-api.ts';
import { readPodStats, type PodStats } from '#lower/07-pods/pod-cgroup.ts';
import type { Spec } from '#lib/oci-spec.ts';
import { nanoseconds } from './cri-proto.ts';

const value = (n: number) => ({ value: String(n) });

/** A container's cgroup, as its bundle's config.json names it (relative to each hierarchy's root). */
export function cgroupOf(info: Pick<ContainerInfo, 'bundle'>): string {
  const spec = JSON.parse(fs.readFileSync(path.join(info.bundle, 'config.json'), 'utf8')) as Spec;
  return (spec.linux.cgroupsPath ?? '').replace(/^\//, '');
}

/** CpuUsage and MemoryUsage of one cgroup's counters, stamped now. */
export function usageOf(stats: PodStats): { cpu: object; memory: object } {
  const timestamp = nanoseconds(new Date().toISOString());
  return {
    cpu: { timestamp, usage_core_nano_seconds: value(stats.cpuMicros * 1000), usage_nano_cores: null },
    memory: {
      timestamp,
      working_set_bytes: value(stats.memoryBytes),
      usage_bytes: value(stats.memoryBytes),
      ...(stats.memoryLimitBytes !== undefined ? { available_bytes: value(Math.max(0, stats.memoryLimitBytes - stats.memoryBytes)) } : {}),
    },
  };
}

/** A container's cgroup counters; zero once its cgroup is gone (an exited container). */
export function containerUsage(info: Pick<ContainerInfo, 'bundle' | 'status'>): { cpu: object; memory: object } {
  const empty: PodStats = { memoryBytes: 0, cpuMicros: 0, pids: 0 };
  if (info.status !== 'running') return usageOf(empty);
  try {
    return usageOf(readPodStats(cgroupOf(info)));
  } catch {
    return usageOf(empty);
  }
}
