/**
 * How a container joins a pod, when a later chapter plugs pods in (chapter 07). A pod is a
 * group of containers that share the network, IPC and UTS namespaces (and maybe the PID one)
 * of one "infra" container, sit under one parent cgroup, and are run by one shim. Without a
 * provider a request naming a pod is refused.
 *
 *   plan       at create: the pod exists; is this container its infra (the first, which makes
 *              the namespaces) or a member (which joins them)? Where its cgroup goes, and the
 *              files a member mounts from the pod (/etc/hosts, /etc/hostname, resolv.conf)
 *   namespaces before each start of a member: the namespaces to join, by path. They are the
 *              infra's (/proc/PID/ns/...), and its PID changes each time the pod starts again,
 *              so the bundle is brought up to date at every start, as podman regenerates a
 *              container's spec at each start
 *   startShim  the pod's shim runs the container: one shim process per pod, as containerd
 *              groups a pod's containers under one shim
 *
 * containerd's CRI plugin splits it the same way: the sandbox (pause container) is made first,
 * and each container's spec is given its namespaces' paths.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';
import type { Spec } from '#lib/oci-spec.ts';
import type { StartShimOptions } from '#lower/03-shim/client.ts';
import type { ProcessIdentity } from '#lower/03-shim/identity.ts';
import type { FileMount } from './network-provider.ts';
import type { Manager } from './manager.ts';

export interface PodPlanRequest {
  id: string;
  /** The pod as the client named it: a name, an id or a unique prefix of one. */
  pod: string;
  /** The fields a member must leave to its pod (the network is the pod's). */
  hostname?: string;
  network?: string;
  publish?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

export interface PodPlan {
  /** The pod's full id, kept in the record. */
  pod: string;
  /** "infra": the pod's first container, which makes its namespaces; "member": joins them. */
  role: 'infra' | 'member';
  /** The pod's cgroup (from the root of each hierarchy): the container's goes under it. */
  cgroupParent: string;
  /** What a member mounts from the pod (the infra's /etc files); none for the infra. */
  mounts: FileMount[];
  /** Namespaces taken from the host (hostIPC, hostPID): the container gets none of its own of these types. */
  hostNamespaces?: ('ipc' | 'pid')[];
}

/** A namespace to join, as the runtime spec says it (linux.namespaces[]). */
export interface NamespacePath {
  type: 'network' | 'ipc' | 'uts' | 'pid';
  path: string;
}

export interface PodProvider {
  plan(request: PodPlanRequest): Promise<PodPlan>;
  /** Before a member's start: its pod's namespaces now; a 409 when the pod's infra is not running. */
  namespaces(pod: string): Promise<NamespacePath[]>;
  /** Have the pod's shim run this container (the shim process is started if the pod has none). */
  startShim(pod: string, options: StartShimOptions): Promise<{ shim: ProcessIdentity; pid: number }>;
  /** Before `rm` of a pod's infra: a 409 unless the pod itself is being removed (the pod would lose its namespaces). */
  checkRemoveInfra(pod: string): void;
}

/** Makes the provider of a Manager (it needs the Manager, to run the pod's infra container). */
export type PodProviderFactory = (manager: Manager) => PodProvider;

let registered: PodProviderFactory | undefined;

/** A program that wants pods (chapter 07's conmand, conman) registers its provider before it opens the Manager. */
export function registerPodProvider(factory: PodProviderFactory): void {
  registered = factory;
}

/** The registered factory, if a program registered one. */
export function registeredPodProvider(): PodProviderFactory | undefined {
  return registered;
}

/**
 * Point the bundle's namespaces of these types at these paths (a namespace with a path is
 * joined, one without is made new): config.json is rewritten whole, atomically, so that a
 * crash never leaves the runtime half a spec.
 */
export async function joinNamespaces(bundle: string, namespaces: NamespacePath[]): Promise<void> {
  const file = path.join(bundle, 'config.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as Spec;
  const joined = new Set(namespaces.map((namespace) => namespace.type));
  spec.linux.namespaces = [...spec.linux.namespaces.filter((namespace) => !joined.has(namespace.type as NamespacePath['type'])), ...namespaces];
  writeFileAtomic(file, JSON.stringify(spec, null, 2) + '\n', { mode: 0o600 });
}
