/**
 * What a ContainerConfig asks of the runtime spec beyond conman's create request: its mounts,
 * its resources and its security context. kubelet turns a pod's `securityContext` and
 * `volumeMounts` into these fields; containerd's CRI plugin and cri-o write them into the
 * OCI spec the same way (containerd: `WithMounts`, `WithUser`, `WithCapabilities`...).
 *
 *   mounts[]              → a bind mount each: readonly → "ro"; propagation PRIVATE → rprivate,
 *                           HOST_TO_CONTAINER → rslave, BIDIRECTIONAL → rshared. A missing
 *                           host path is made a directory (containerd does so too)
 *   run_as_user/_group    → process.user.uid/gid; supplemental_groups → additionalGids
 *   readonly_rootfs       → root.readonly
 *   capabilities          → drop then add ("ALL" is every one; "NET_ADMIN" is CAP_NET_ADMIN)
 *   privileged            → every capability, no masked or read-only /proc paths
 *   no_new_privs          → process.noNewPrivileges
 *   masked/readonly_paths → replace the defaults when given (kubelet sends its own list)
 *   seccomp               → RuntimeDefault or Unconfined: neither adds a filter here (the
 *                           workshop ships no seccomp profile: see the lesson); Localhost: refused
 *   resources             → linux.resources: memory limit (no swap beyond it), CPU shares,
 *                           quota and period; oom_score_adj no lower than conmand's own
 *
 * specEditorFor() checks the config first and throws INVALID_ARGUMENT for what cannot be
 * done, so that the manager's create only applies a change that cannot fail.
 */
import fs from 'node:fs';
import { status as Status } from '@grpc/grpc-js';
import { DEFAULT_CAPABILITIES, type Spec } from '#lib/oci-spec.ts';
import { grpcError } from './grpc-errors.ts';
import type { ContainerConfig } from './cri-proto.ts';

/** Every capability a privileged container gets (the kernel's list, as runc knows it). */
export const ALL_CAPABILITIES = [
  ...DEFAULT_CAPABILITIES,
  ...['DAC_READ_SEARCH', 'LINUX_IMMUTABLE', 'NET_BROADCAST', 'NET_ADMIN', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'LEASE', 'AUDIT_CONTROL', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'].map((name) => `CAP_${name}`),
];

const PROPAGATION: Record<string, string> = { PROPAGATION_PRIVATE: 'rprivate', PROPAGATION_HOST_TO_CONTAINER: 'rslave', PROPAGATION_BIDIRECTIONAL: 'rshared' };

/** "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" are one capability. */
export function capabilityName(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/** An int64 of the CRI (a string here: proto-loader's longs) as a number; refuses what is not one. */
function int(field: string, value: string | undefined): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw grpcError(Status.INVALID_ARGUMENT, `${field}: ${value} is not a valid id`);
  return number;
}

/** conmand's own oom_score_adj: a container may not ask for less (that needs CAP_SYS_RESOURCE), as containerd's restrict_oom_score_adj. */
function ownOomScoreAdj(): number {
  return Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
}

export function specEditorFor(config: ContainerConfig): (spec: Spec) => void {
  const edits: ((spec: Spec) => void)[] = [];
  const security = config.linux?.security_context as Record<string, any> | null | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any

  // Mounts, checked now: absolute paths only.
  const mounts = (config.mounts ?? []).map((mount) => {
    const m = mount as typeof mount & { propagation?: string };
    if (!m.container_path.startsWith('/') || !m.host_path.startsWith('/')) {
      throw grpcError(Status.INVALID_ARGUMENT, `mount ${m.host_path} → ${m.container_path}: both paths must be absolute`);
    }
    return { destination: m.container_path, type: 'bind', source: m.host_path, options: ['rbind', PROPAGATION[m.propagation ?? 'PROPAGATION_PRIVATE'] ?? 'rprivate', m.readonly ? 'ro' : 'rw'] };
  });
  if (mounts.length > 0) {
    edits.push((spec) => {
      for (const mount of mounts) if (!fs.existsSync(mount.source)) fs.mkdirSync(mount.source, { recursive: true });
      // A mount of the CRI replaces one of ours at the same place (kubelet gives its own /etc/hosts).
      const taken = new Set(mounts.map((mount) => mount.destination));
      spec.mounts = [...spec.mounts.filter((mount) => !taken.has(mount.destination)), ...mounts];
    });
  }

  if (security) {
    if (security.seccomp?.profile_type === 'Localhost') throw grpcError(Status.INVALID_ARGUMENT, 'seccomp: Localhost profiles are not supported by conman (RuntimeDefault and Unconfined are)');
    if (security.run_as_username) throw grpcError(Status.INVALID_ARGUMENT, `run_as_username "${security.run_as_username}": give run_as_user (a number); conman does not look names up in the image`);
    const uid = security.run_as_user ? int('run_as_user', security.run_as_user.value) : undefined;
    const gid = security.run_as_group ? int('run_as_group', security.run_as_group.value) : undefined;
    const groups = ((security.supplemental_groups ?? []) as string[]).map((group) => int('supplemental_groups', group));
    const drop = ((security.capabilities?.drop_capabilities ?? []) as string[]).map(capabilityName);
    const add = ((security.capabilities?.add_capabilities ?? []) as string[]).map(capabilityName);
    for (const name of [...drop, ...add]) {
      if (name !== 'CAP_ALL' && !ALL_CAPABILITIES.includes(name)) throw grpcError(Status.INVALID_ARGUMENT, `capability ${name} is not one the kernel has`);
    }
    edits.push((spec) => {
      if (uid !== undefined) spec.process.user.uid = uid;
      if (gid !== undefined) spec.process.user.gid = gid;
      if (groups.length > 0) spec.process.user.additionalGids = groups;
      if (security.readonly_rootfs) spec.root.readonly = true;
      if (security.no_new_privs) spec.process.noNewPrivileges = true;
      let capabilities = security.privileged ? [...ALL_CAPABILITIES] : [...(spec.process.capabilities?.bounding ?? DEFAULT_CAPABILITIES)];
      if (!security.privileged) {
        capabilities = drop.includes('CAP_ALL') ? [] : capabilities.filter((name) => !drop.includes(name));
        capabilities = [...new Set([...capabilities, ...(add.includes('CAP_ALL') ? ALL_CAPABILITIES : add)])];
      }
      spec.process.capabilities = { bounding: capabilities, effective: capabilities, permitted: capabilities };
      if (security.privileged) {
        spec.linux.maskedPaths = [];
        spec.linux.readonlyPaths = [];
      } else {
        if (security.masked_paths?.length) spec.linux.maskedPaths = security.masked_paths;
        if (security.readonly_paths?.length) spec.linux.readonlyPaths = security.readonly_paths;
      }
    });
  }

  const resources = config.linux?.resources;
  if (resources) {
    const memory = Number(resources.memory_limit_in_bytes ?? 0);
    const quota = Number(resources.cpu_quota ?? 0);
    const period = Number(resources.cpu_period ?? 0);
    const shares = Number(resources.cpu_shares ?? 0);
    const oomScoreAdj = Number(resources.oom_score_adj ?? 0);
    edits.push((spec) => {
      spec.linux.resources ??= {};
      if (memory > 0) spec.linux.resources.memory = { limit: memory, swap: memory };
      if (quota > 0 || shares > 0) spec.linux.resources.cpu = { ...(shares > 0 ? { shares } : {}), ...(quota > 0 ? { quota, period: period > 0 ? period : 100_000 } : {}) };
      // kubelet asks -998 for some pods; lowering it needs CAP_SYS_RESOURCE (runc then fails without a word).
      if (oomScoreAdj !== 0) spec.process.oomScoreAdj = Math.max(oomScoreAdj, ownOomScoreAdj());
    });
  }
  return (spec) => {
    for (const edit of edits) edit(spec);
  };
}
