/**
 * What a ContainerConfig asks of the runtime spec beyond conman's create request: its mounts,
 * its resources and its security context. kubelet turns a pod's `securityContext` and
 * `volumeMounts` into these fields; containerd's CRI plugin and cri-o write them into the
 * OCI spec the same way (containerd: `WithMounts`, `WithUser`, `WithCapabilities`...).
 *
 *   mounts[]              → a bind mount each: readonly → "ro"; propagation PRIVATE → rprivate,
 *                           HOST_TO_CONTAINER → rslave, BIDIRECTIONAL → rshared. A missing
 *                           host path is made a directory (containerd does so too)
 *   seccomp               → RuntimeDefault: seccomp-default.ts's filter (not for privileged);
 *                           Unconfined, or no profile asked: none
 *   security_context      → security-context.ts (user, groups, capabilities, privileged...);
 *                           run_as_username here, looked up in the image once its rootfs exists
 *   devices[]             → a device node each (linux.devices: its type, major and minor read
 *                           from the host's node), and the cgroup's permission for it ("rwm")
 *   resources             → linux.resources: memory limit (no swap beyond it), CPU shares,
 *                           quota and period; oom_score_adj no lower than conmand's own
 *
 * specEditorFor() checks the config first and throws INVALID_ARGUMENT for what cannot be
 * done, so that the manager's create only applies a change that cannot fail.
 */
import fs from 'node:fs';
import { status as Status } from '@grpc/grpc-js';
import type { LinuxDevice, LinuxDeviceCgroup, LinuxSeccomp, Spec } from '#lib/oci-spec.ts';
import { grpcError } from './grpc-errors.ts';
import type { ContainerConfig } from './cri-proto.ts';
import { securityEditor, type SecurityContext } from './security-context.ts';
import { resolveUser } from '#lower/05-images/image-config.ts';
import { defaultSeccompProfile } from './seccomp-default.ts';

const PROPAGATION: Record<string, string> = { PROPAGATION_PRIVATE: 'rprivate', PROPAGATION_HOST_TO_CONTAINER: 'rslave', PROPAGATION_BIDIRECTIONAL: 'rshared' };

/**
 * A device of the CRI as the spec's node and cgroup rule. Its numbers come from the host's node
 * (stat's rdev: Linux keeps the major in bits 8-19 and 32+, the minor in bits 0-7 and 20+).
 */
function deviceOf(device: { container_path: string; host_path: string; permissions: string }): { node: LinuxDevice; rule: LinuxDeviceCgroup } {
  const where = `device ${device.host_path} → ${device.container_path}`;
  if (!device.container_path.startsWith('/') || !device.host_path.startsWith('/')) throw grpcError(Status.INVALID_ARGUMENT, `${where}: both paths must be absolute`);
  const access = device.permissions || 'rwm';
  if (!/^[rwm]{1,3}$/.test(access)) throw grpcError(Status.INVALID_ARGUMENT, `${where}: permissions "${access}" are not some of "rwm"`);
  let stat: fs.BigIntStats;
  try {
    stat = fs.statSync(device.host_path, { bigint: true });
  } catch (error) {
    throw grpcError(Status.INVALID_ARGUMENT, `${where}: ${(error as Error).message}`);
  }
  const type = stat.isCharacterDevice() ? 'c' : stat.isBlockDevice() ? 'b' : undefined;
  if (!type) throw grpcError(Status.INVALID_ARGUMENT, `${where}: not a device node`);
  const major = Number(((stat.rdev >> 8n) & 0xfffn) | ((stat.rdev >> 32n) & ~0xfffn));
  const minor = Number((stat.rdev & 0xffn) | ((stat.rdev >> 12n) & ~0xffn));
  return {
    node: { path: device.container_path, type, major, minor, fileMode: Number(stat.mode & 0o777n), uid: 0, gid: 0 },
    rule: { allow: true, type, major, minor, access },
  };
}

/** A user by name, as the image's own /etc/passwd and /etc/group say (chapter 05's resolveUser). */
export async function userNamed(rootfs: string, username: string): Promise<{ uid: number; gid: number; additionalGids?: number[] }> {
  return resolveUser(rootfs, username).catch((error: Error) => {
    throw grpcError(Status.INVALID_ARGUMENT, `run_as_username "${username}": ${error.message}`);
  });
}

/**
 * The seccomp filter a security context asks for: the runtime's default for RuntimeDefault (the
 * enum's zero: a profile given with no type is RuntimeDefault too) or the older field's
 * "runtime/default"; none for Unconfined, for no profile at all, and for privileged containers.
 */
export function seccompFor(security: SecurityContext | null | undefined): LinuxSeccomp | undefined {
  if (security?.seccomp_profile_path?.startsWith('localhost/')) throw grpcError(Status.INVALID_ARGUMENT, `seccomp_profile_path ${security.seccomp_profile_path}: Localhost profiles are not supported by conman (runtime/default and unconfined are)`);
  const profile = security?.seccomp ? security.seccomp.profile_type || 'RuntimeDefault' : /^(runtime|docker)\/default$/.test(security?.seccomp_profile_path ?? '') ? 'RuntimeDefault' : undefined;
  return profile === 'RuntimeDefault' && !security?.privileged ? defaultSeccompProfile() : undefined;
}

/** conmand's own oom_score_adj: a container may not ask for less (that needs CAP_SYS_RESOURCE), as containerd's restrict_oom_score_adj. */
function ownOomScoreAdj(): number {
  return Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
}

export function specEditorFor(config: ContainerConfig): (spec: Spec) => Promise<void> {
  const edits: ((spec: Spec) => void | Promise<void>)[] = [];
  const security = config.linux?.security_context as SecurityContext | null | undefined;

  // Mounts, checked now: absolute paths only.
  const mounts = (config.mounts ?? []).map((mount) => {
    const m = mount as typeof mount & { propagation?: string };
    // A mount without a host path is an image volume (an image's content as a volume, Kubernetes 1.31): not done here.
    if (!m.host_path) throw grpcError(Status.UNIMPLEMENTED, `mount at ${m.container_path}: image volumes (a mount with no host_path) are not supported by conman`);
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

  // A user by name: looked up in the image's own /etc/passwd and /etc/group (chapter 05's
  // resolveUser), which exist once the manager has made the rootfs; a group given by number wins.
  const username = security?.run_as_username;
  if (username) {
    edits.push(async (spec) => void (spec.process.user = { ...spec.process.user, ...(await userNamed(spec.root.path, username)) }));
  }
  // Devices: the host's node read now (a missing one, or a file that is no device, is refused).
  const devices = ((config as ContainerConfig & { devices?: { container_path: string; host_path: string; permissions: string }[] }).devices ?? []).map(deviceOf);
  if (devices.length > 0) {
    edits.push((spec) => {
      spec.linux.devices = [...(spec.linux.devices ?? []).filter((d) => !devices.some((device) => device.node.path === d.path)), ...devices.map((device) => device.node)];
      spec.linux.resources ??= {};
      spec.linux.resources.devices = [...(spec.linux.resources.devices ?? []), ...devices.map((device) => device.rule)];
    });
  }

  const seccomp = seccompFor(security);
  if (seccomp) edits.push((spec) => void (spec.linux.seccomp = seccomp));

  // The security context: securityEditor() checks it now, and edits the spec later. Without
  // one, the CRI's defaults still differ from chapter 01's: no_new_privs is false.
  if (security) edits.push(securityEditor(security));
  else edits.push((spec) => void (spec.process.noNewPrivileges = false));

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
  return async (spec) => {
    for (const edit of edits) await edit(spec);
  };
}
