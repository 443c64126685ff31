/**
 * A typed subset of the OCI runtime specification (config.json), version 1.0.2.
 *
 * Only the fields this workshop uses are here; the names, nesting and units are the
 * spec's own (https://github.com/opencontainers/runtime-spec, config.md and
 * config-linux.md), so a Spec serialised with JSON.stringify is a valid config.json for
 * runc and crun. Every chapter that builds a container builds one of these.
 */

export const OCI_VERSION = '1.0.2';

/** The kinds of Linux namespace the spec knows (config-linux.md, "Namespaces"). */
export const NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

export interface Namespace {
  type: NamespaceType;
  /** Join an existing namespace (e.g. /proc/123/ns/net) instead of creating a new one. */
  path?: string;
}

export interface User {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface Rlimit {
  /** e.g. RLIMIT_NOFILE */
  type: string;
  hard: number;
  soft: number;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args: string[];
  /** "KEY=value" strings, exactly as execve(2) wants them. */
  env?: string[];
  /** Absolute path inside the container. */
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  /**
   * Leave unset: lowering it needs CAP_SYS_RESOURCE, which some machines (CI sandboxes) do not
   * grant, and runc then fails with "can't get final child's PID from pipe: EOF" (README.md,
   * Troubleshooting). The workshop never sets it.
   */
  oomScoreAdj?: number;
}

export interface Root {
  /** Relative to the bundle directory, or absolute. */
  path: string;
  readonly?: boolean;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface LinuxMemory {
  /** Bytes. */
  limit?: number;
  /** Memory + swap, bytes. Equal to limit means "no swap". */
  swap?: number;
}

export interface LinuxPids {
  limit: number;
}

export interface LinuxCpu {
  shares?: number;
  quota?: number;
  period?: number;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

/** A device node made in the container's /dev (linux.devices[]). */
export interface LinuxDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  pids?: LinuxPids;
  cpu?: LinuxCpu;
}

/** A seccomp filter (linux.seccomp): the action for every call, and the exceptions. */
export interface LinuxSeccomp {
  defaultAction: string;
  architectures?: string[];
  syscalls?: { names: string[]; action: string; errnoRet?: number }[];
}

export interface Linux {
  namespaces: Namespace[];
  /** Where the container's cgroup goes, e.g. "/conman-workshop/abc" (cgroupfs driver). */
  cgroupsPath?: string;
  resources?: LinuxResources;
  devices?: LinuxDevice[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  sysctl?: Record<string, string>;
  seccomp?: LinuxSeccomp;
}

export interface Spec {
  ociVersion: string;
  process: Process;
  root: Root;
  hostname?: string;
  mounts: Mount[];
  linux: Linux;
  annotations?: Record<string, string>;
}

/**
 * The capabilities Docker and containerd give a container by default (cri-o grants fewer,
 * e.g. no CAP_MKNOD, CAP_NET_RAW or CAP_AUDIT_WRITE in recent versions): enough to run
 * ordinary programs as root, without CAP_SYS_ADMIN (mount, sethostname, ...), CAP_NET_ADMIN,
 * CAP_SYS_PTRACE or CAP_SYS_MODULE.
 */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Paths runc hides (masks) from a container so it cannot read host kernel details. */
export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];

/** Paths made read-only inside the container: writing to them would change the host. */
export const DEFAULT_READONLY_PATHS = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];
