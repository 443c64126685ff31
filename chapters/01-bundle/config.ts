/**
 * config.json: everything runc needs to know about one container, besides its rootfs.
 *
 * generateConfig() turns a few friendly options into an OCI runtime Spec. It is split in
 * three parts, each a different job of the runtime:
 *   - the process: what to run, as whom, with which environment and privileges;
 *   - isolation: which root, which mounts, which namespaces, which hostname;
 *   - resources: the cgroup limits (memory, pids).
 */
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  OCI_VERSION,
  type Linux,
  type LinuxResources,
  type Mount,
  type Namespace,
  type Process,
  type Root,
  type Spec,
} from '#lib/oci-spec.ts';
import { notImplemented } from '#lib/not-implemented.ts';

export interface ContainerOptions {
  /** The command and its arguments, e.g. ["sh", "-c", "echo hi"]. */
  args: string[];
  /** Extra variables, added after PATH and HOME (which come first, as Docker does). */
  env?: Record<string, string>;
  /** Working directory inside the container; default "/". */
  cwd?: string;
  /** Run as this user; default root (0:0). */
  user?: { uid: number; gid: number };
  /** Default: the container id given to the runtime is not known here, so "container". */
  hostname?: string;
  /** Mount the rootfs read-only (a tmpfs still gives a writable /tmp). */
  readonlyRoot?: boolean;
  /** Memory limit in bytes; the container gets no swap beyond it. */
  memoryLimitBytes?: number;
  /** Most processes (and threads) that may exist in the container at once. */
  pidsLimit?: number;
  /** Capabilities to grant; default DEFAULT_CAPABILITIES (no CAP_SYS_ADMIN). */
  capabilities?: string[];
  /** Cgroup of the container, e.g. "/conman-workshop/cmw-1234-web". */
  cgroupsPath?: string;
  /** Namespaces to create (default: pid, mount, ipc, uts, network, cgroup) or to join (with a path). */
  namespaces?: Namespace[];
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_NAMESPACES: Namespace[] = [
  { type: 'pid' },
  { type: 'mount' },
  { type: 'ipc' },
  { type: 'uts' },
  { type: 'network' },
  // Its own cgroup namespace: /sys/fs/cgroup inside shows the container's cgroup as the root
  // (Docker's default on cgroup v2), not the host's whole tree.
  { type: 'cgroup' },
];

export function generateConfig(options: ContainerOptions): Spec {
  const process = processSection(options);
  const { root, mounts, hostname, linux } = isolationSection(options);
  return {
    ociVersion: OCI_VERSION,
    process,
    root,
    hostname,
    mounts,
    linux: { ...linux, resources: resourcesSection(options) },
  };
}

/**
 * The process: args, env (PATH, then HOME, then options.env as KEY=value), cwd, user,
 * capabilities (the same list in bounding, effective, permitted; none inheritable or
 * ambient), noNewPrivileges, and an RLIMIT_NOFILE of 1024 (soft and hard).
 */
export function processSection(options: ContainerOptions): Process {
  // EXERCISE(config-process): build the Process part of the spec from the options
  // Hints: HOME is /root for uid 0 and /home/learner otherwise. terminal is false: this
  // chapter's containers write to plain pipes (chapter 02 brings the TTY).
  throw notImplemented("01-bundle/config-process", "build the Process part of the spec from the options");
  // END EXERCISE
}

/** What isolationSection() returns: the parts of the spec that decide what the container sees. */
export interface Isolation {
  root: Root;
  mounts: Mount[];
  hostname: string;
  linux: Linux;
}

/**
 * Isolation: root "rootfs" (read-only if asked), the standard mounts (/proc, /dev as tmpfs,
 * /dev/pts, /dev/shm, /dev/mqueue, /sys read-only, /sys/fs/cgroup read-only, and a tmpfs
 * on /tmp when the root is read-only), the namespaces, the hostname, the masked and
 * read-only paths, and the cgroupsPath.
 */
export function isolationSection(options: ContainerOptions): Isolation {
  // EXERCISE(config-isolation): choose the root, the mounts, the namespaces and the hostname
  // Hints: runc's `runc spec` prints a complete example; each Mount is
  // { destination, type, source, options }. A hostname needs its own uts namespace.
  throw notImplemented("01-bundle/config-isolation", "choose the root, the mounts, the namespaces and the hostname");
  // END EXERCISE
}

/**
 * Resources: memory.limit and memory.swap (equal: no swap on top) when memoryLimitBytes is
 * set, pids.limit when pidsLimit is set; an empty object when neither is.
 */
export function resourcesSection(options: ContainerOptions): LinuxResources {
  // EXERCISE(config-resources): turn memoryLimitBytes and pidsLimit into cgroup resources
  // Hints: the spec's units are bytes and a count; leave out what was not asked for, so the
  // container inherits the parent cgroup's limits.
  throw notImplemented("01-bundle/config-resources", "turn memoryLimitBytes and pidsLimit into cgroup resources");
  // END EXERCISE
}
