/**
 * A container's security context (a pod's `securityContext` in Kubernetes), as runtime spec
 * fields. kubelet fills LinuxContainerSecurityContext from the pod manifest; containerd's CRI
 * plugin (`WithUser`, `WithCapabilities`, `WithMaskedPaths`...) and cri-o write the same
 * fields of the OCI spec, and runc applies them before the container's first instruction.
 *
 *   run_as_user / run_as_group  → process.user.uid / gid (a group needs a user: alone, refused)
 *   run_as_username             → (a name: container-spec.ts looks it up in the image's
 *                                 /etc/passwd, once the rootfs exists)
 *   supplemental_groups         → process.user.additionalGids
 *   readonly_rootfs             → root.readonly
 *   no_new_privs                → process.noNewPrivileges, true or false: the CRI's default is
 *                                 false (a pod's allowPrivilegeEscalation), chapter 01's true
 *   capabilities                → drop first, then add ("ALL" is every one; "net_admin",
 *                                 "NET_ADMIN" and "CAP_NET_ADMIN" are one): bounding,
 *                                 effective and permitted sets alike
 *   privileged                  → every capability, and no masked or read-only /proc paths
 *   masked_paths/readonly_paths → replace the defaults when given (kubelet sends its own list)
 *   seccomp                     → Localhost (a profile file) is refused here; RuntimeDefault
 *                                 gets seccomp-default.ts's filter (container-spec.ts does it)
 *
 * Two phases, as the CRI plugins do it: check everything first, and throw INVALID_ARGUMENT
 * for what cannot be done (before any folder or container is made), then return an edit that
 * cannot fail, applied to the spec when the manager writes config.json.
 */
import { status as Status } from '@grpc/grpc-js';
import { DEFAULT_CAPABILITIES, type Spec } from '#lib/oci-spec.ts';
import { grpcError } from './grpc-errors.ts';

/** LinuxContainerSecurityContext, the fields conman reads (int64s are strings: see cri-proto.ts). */
export interface SecurityContext {
  run_as_user?: { value: string } | null;
  run_as_group?: { value: string } | null;
  run_as_username?: string;
  supplemental_groups?: string[];
  readonly_rootfs?: boolean;
  no_new_privs?: boolean;
  privileged?: boolean;
  capabilities?: { add_capabilities?: string[]; drop_capabilities?: string[] } | null;
  masked_paths?: string[];
  readonly_paths?: string[];
  seccomp?: { profile_type?: string; localhost_ref?: string } | null;
  /** Before SecurityProfile: "runtime/default", "unconfined" or "localhost/<path>". */
  seccomp_profile_path?: string;
}

/** Every capability a privileged container gets (the kernel's list, as runc knows it). */
export const ALL_CAPABILITIES = [
  ...DEFAULT_CAPABILITIES,
  ...['DAC_READ_SEARCH', 'LINUX_IMMUTABLE', 'NET_BROADCAST', 'NET_ADMIN', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'LEASE', 'AUDIT_CONTROL', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'].map((name) => `CAP_${name}`),
];

/** "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" are one capability: "CAP_NET_ADMIN". */
export function capabilityName(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/** A user or group id of the CRI (an int64, so a string here) as a number; INVALID_ARGUMENT for anything else. */
export function idOf(field: string, value: string | undefined): number {
  const number = Number(value);
  if (value === undefined || value === '' || !Number.isInteger(number) || number < 0) throw grpcError(Status.INVALID_ARGUMENT, `${field}: ${value} is not a valid id`);
  return number;
}

export function securityEditor(security: SecurityContext): (spec: Spec) => void {
  // EXERCISE(security-context): check the security context (INVALID_ARGUMENT for what cannot be done), then return the edit of the spec
  // First the checks: a Localhost seccomp profile, a group without a user, an id that is not
  // one (idOf), a capability the kernel does not have (ALL is allowed).
  if (security.seccomp?.profile_type === 'Localhost') throw grpcError(Status.INVALID_ARGUMENT, 'seccomp: Localhost profiles are not supported by conman (RuntimeDefault and Unconfined are)');
  if (security.run_as_group && !security.run_as_user && !security.run_as_username) throw grpcError(Status.INVALID_ARGUMENT, 'run_as_group is given without run_as_user or run_as_username: a group needs a user');
  const uid = security.run_as_user ? idOf('run_as_user', security.run_as_user.value) : undefined;
  const gid = security.run_as_group ? idOf('run_as_group', security.run_as_group.value) : undefined;
  const groups = (security.supplemental_groups ?? []).map((group) => idOf('supplemental_groups', group));
  const drop = (security.capabilities?.drop_capabilities ?? []).map(capabilityName);
  const add = (security.capabilities?.add_capabilities ?? []).map(capabilityName);
  for (const name of [...drop, ...add]) {
    if (name !== 'CAP_ALL' && !ALL_CAPABILITIES.includes(name)) throw grpcError(Status.INVALID_ARGUMENT, `capability ${name} is not one the kernel has`);
  }
  // Then the edit, which cannot fail.
  return (spec) => {
    if (uid !== undefined) spec.process.user.uid = uid;
    if (gid !== undefined) spec.process.user.gid = gid;
    if (groups.length > 0) spec.process.user.additionalGids = groups;
    if (security.readonly_rootfs) spec.root.readonly = true;
    spec.process.noNewPrivileges = security.no_new_privs === true;
    let capabilities: string[];
    if (security.privileged) {
      capabilities = [...ALL_CAPABILITIES];
    } else {
      // Drop first, then add: "drop ALL, add NET_BIND_SERVICE" is the least a server needs.
      capabilities = drop.includes('CAP_ALL') ? [] : (spec.process.capabilities?.bounding ?? DEFAULT_CAPABILITIES).filter((name) => !drop.includes(name));
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
  };
  // END EXERCISE
}
