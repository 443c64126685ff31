/**
 * Check a Spec before runc ever sees it.
 *
 * runc's own errors come late and are terse ("container_linux.go:... invalid argument"). A
 * manager (containerd, cri-o, podman) validates what it can first, so the user learns which
 * field is wrong and what to do. Each problem names the JSON path of the field.
 */
import fs from 'node:fs';
import path from 'node:path';
import { NAMESPACE_TYPES, type Spec } from '#lib/oci-spec.ts';

export class SpecError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`invalid config.json: ${field}: ${problem}`);
    this.name = 'SpecError';
  }
}

const RLIMIT_TYPES = /^RLIMIT_[A-Z]+$/;
const CAPABILITY = /^CAP_[A-Z_]+$/;

/** Throw a SpecError for the first problem found; `bundleDir` resolves a relative root.path. */
export function validateSpec(spec: Spec, bundleDir: string): void {
  const { process: proc, root, linux } = spec;
  if (!proc) throw new SpecError('process', 'missing: the runtime needs a process to start');
  if (!Array.isArray(proc.args) || proc.args.length === 0 || proc.args.some((arg) => typeof arg !== 'string')) {
    throw new SpecError('process.args', 'must be a non-empty list of strings, e.g. ["sh", "-c", "echo hi"]');
  }
  if (!proc.cwd?.startsWith('/')) {
    throw new SpecError('process.cwd', `must be an absolute path inside the container, got ${JSON.stringify(proc.cwd)}`);
  }
  for (const key of ['uid', 'gid'] as const) {
    const id = proc.user?.[key];
    if (!Number.isInteger(id) || id < 0) throw new SpecError(`process.user.${key}`, `must be an integer >= 0, got ${id}`);
  }
  proc.env?.forEach((entry, i) => {
    if (!/^[^=]+=/.test(entry)) throw new SpecError(`process.env[${i}]`, `must look like KEY=value, got ${JSON.stringify(entry)}`);
  });
  proc.rlimits?.forEach((limit, i) => {
    if (!RLIMIT_TYPES.test(limit.type)) throw new SpecError(`process.rlimits[${i}].type`, `unknown rlimit ${JSON.stringify(limit.type)}`);
    if (limit.soft > limit.hard) throw new SpecError(`process.rlimits[${i}]`, 'soft limit is above the hard limit');
  });
  for (const [set, caps] of Object.entries(proc.capabilities ?? {})) {
    (caps as string[]).forEach((cap, i) => {
      if (!CAPABILITY.test(cap)) throw new SpecError(`process.capabilities.${set}[${i}]`, `${JSON.stringify(cap)} is not a capability name like CAP_CHOWN`);
    });
  }
  if (proc.oomScoreAdj !== undefined) {
    throw new SpecError('process.oomScoreAdj', 'leave it unset: lowering it needs CAP_SYS_RESOURCE, which the workshop machines lack (runc then fails with "can\'t get final child\'s PID from pipe")');
  }

  if (!root?.path) throw new SpecError('root.path', 'missing: point it at the rootfs directory, usually "rootfs"');
  const rootfs = path.resolve(bundleDir, root.path);
  if (!fs.existsSync(rootfs) || !fs.statSync(rootfs).isDirectory()) {
    throw new SpecError('root.path', `${rootfs} is not a directory: build the rootfs first`);
  }
  spec.mounts?.forEach((mount, i) => {
    if (!mount.destination?.startsWith('/')) throw new SpecError(`mounts[${i}].destination`, `must be absolute, got ${JSON.stringify(mount.destination)}`);
  });

  if (!linux) throw new SpecError('linux', 'missing: a Linux container needs at least its namespaces');
  const seen = new Set<string>();
  linux.namespaces.forEach((ns, i) => {
    if (!(NAMESPACE_TYPES as readonly string[]).includes(ns.type)) {
      throw new SpecError(`linux.namespaces[${i}].type`, `unknown namespace ${JSON.stringify(ns.type)}; known: ${NAMESPACE_TYPES.join(', ')}`);
    }
    if (seen.has(ns.type)) throw new SpecError(`linux.namespaces[${i}].type`, `${ns.type} is listed twice`);
    seen.add(ns.type);
    if (ns.path !== undefined && !fs.existsSync(ns.path)) {
      throw new SpecError(`linux.namespaces[${i}].path`, `${ns.path} does not exist: is the process holding that namespace still running?`);
    }
  });
  if (spec.hostname !== undefined && !seen.has('uts')) {
    throw new SpecError('hostname', 'setting a hostname needs a new uts namespace (add { type: "uts" } to linux.namespaces)');
  }
  if (spec.hostname !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(spec.hostname)) {
    throw new SpecError('hostname', `${JSON.stringify(spec.hostname)} is not a valid hostname (letters, digits, "-" and ".", at most 63)`);
  }

  const memory = linux.resources?.memory;
  if (memory?.limit !== undefined) {
    if (!Number.isInteger(memory.limit) || memory.limit <= 0) {
      throw new SpecError('linux.resources.memory.limit', `must be a positive number of bytes, got ${memory.limit}`);
    }
    if (memory.limit < 4 * 1024 * 1024) {
      throw new SpecError('linux.resources.memory.limit', `${memory.limit} bytes is too small to start even a shell: give at least 4 MiB`);
    }
    if (memory.swap !== undefined && memory.swap < memory.limit) {
      throw new SpecError('linux.resources.memory.swap', 'is memory + swap, so it cannot be below memory.limit');
    }
  }
  const pids = linux.resources?.pids;
  if (pids && (!Number.isInteger(pids.limit) || pids.limit <= 0)) {
    throw new SpecError('linux.resources.pids.limit', `must be a positive count, got ${pids.limit}`);
  }
  if (linux.cgroupsPath !== undefined && !linux.cgroupsPath.startsWith('/')) {
    throw new SpecError('linux.cgroupsPath', `use an absolute cgroup path like "/conman-workshop/web", got ${JSON.stringify(linux.cgroupsPath)}`);
  }
}
