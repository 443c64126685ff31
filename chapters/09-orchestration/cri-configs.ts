/**
 * A pod manifest as the CRI calls take it: the PodSandboxConfig of RunPodSandbox and the
 * ContainerConfig of each CreateContainer, with the labels and annotations that let the agent
 * find its own pods again in ListPodSandbox and ListContainers (after a restart it has nothing
 * else: no database, only what the runtime echoes back).
 *
 *   labels       io.kubernetes.pod.name / .namespace / .uid, io.kubernetes.container.name
 *                (kubelet's own names, so crictl and other tools see the pods the usual way)
 *   annotations  io.kubernetes.container.hash          the container spec's hash: a change
 *                                                       of the manifest shows as a mismatch
 *                io.kubernetes.container.restartCount   RESTARTS, carried from one attempt to
 *                                                       the next
 *                io.kubernetes.pod.terminationGracePeriod
 *                conman-agent.io/sandbox-hash           what the sandbox was made from (ports,
 *                                                       host network, limits)
 *   logs         log_directory /var/log/pods/<namespace>_<name>_<uid>, log_path
 *                <container>/<restartCount>.log: where `kubectl logs` looks on a node
 *
 * How real kubelet differs: a static pod's UID is a hash of the file's content, so an edit is
 * a new pod; ours is a hash of its namespace and name, so an edit goes through the same
 * comparison kubelet makes for an API update (the container hash). kubelet computes the hash
 * of the whole container spec with Go's hash of the struct; we hash its JSON with sorted keys.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ContainerSpec, Pod } from './manifest.ts';
import { cpuQuotaOf, CPU_PERIOD_US, parseQuantity } from './quantity.ts';

export const LABEL = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
} as const;

export const ANNOTATION = {
  containerHash: 'io.kubernetes.container.hash',
  restartCount: 'io.kubernetes.container.restartCount',
  gracePeriod: 'io.kubernetes.pod.terminationGracePeriod',
  sandboxHash: 'conman-agent.io/sandbox-hash',
  /** "init" for an init container: after a restart, the agent knows it without the manifest. */
  containerType: 'conman-agent.io/container-type',
} as const;

/** JSON with sorted keys: the same object always gives the same text, whatever order YAML gave. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().filter((key) => (value as Record<string, unknown>)[key] !== undefined).map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const hashOf = (value: unknown) => createHash('sha256').update(canonical(value)).digest('hex').slice(0, 16);

/** A UUID-shaped id from the namespace and name: the same pod keeps it across edits and agent restarts. */
export function podUid(namespace: string, name: string): string {
  const h = createHash('sha256').update(`conman-agent/${namespace}/${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** What a container's hash covers: everything that needs a new container when it changes. Not the probes: they change in place. */
export function containerHash(pod: Pod, container: ContainerSpec): string {
  const { livenessProbe: _l, readinessProbe: _r, ...rest } = container;
  const volumes = (container.volumeMounts ?? []).map((mount) => pod.spec.volumes?.find((volume) => volume.name === mount.name));
  return hashOf({ ...rest, volumes });
}

/**
 * What the sandbox is made of: a change needs a new sandbox (and so new containers). The init
 * containers count too: they run once per sandbox, so a changed one can only run again in a
 * new one ("altering an init container image field is equivalent to restarting the Pod", say
 * Kubernetes' docs).
 */
export function sandboxHash(pod: Pod): string {
  const initContainers = (pod.spec.initContainers ?? []).map((container) => containerHash(pod, container));
  return hashOf({ hostNetwork: pod.spec.hostNetwork, hostname: pod.spec.hostname, ports: portMappings(pod), resources: podResources(pod), initContainers });
}

function portMappings(pod: Pod) {
  return pod.spec.containers.flatMap((container) =>
    (container.ports ?? []).filter((port) => (port.hostPort ?? 0) > 0).map((port) => ({ protocol: port.protocol ?? 'TCP', container_port: port.containerPort, host_port: port.hostPort!, host_ip: port.hostIP ?? '' })),
  );
}

/** A container's limits in the CRI's terms (an int64 is a string on the wire). */
function containerResources(container: ContainerSpec) {
  const limits = container.resources?.limits ?? {};
  const cpu = limits.cpu !== undefined ? parseQuantity(limits.cpu) : undefined;
  const memory = limits.memory !== undefined ? parseQuantity(limits.memory) : undefined;
  if (cpu === undefined && memory === undefined) return null;
  return {
    ...(cpu !== undefined ? { cpu_period: String(CPU_PERIOD_US), cpu_quota: String(cpuQuotaOf(cpu)), cpu_shares: String(Math.max(2, Math.round(cpu * 1024))) } : {}),
    ...(memory !== undefined ? { memory_limit_in_bytes: String(Math.round(memory)) } : {}),
  };
}

/** The pod's cgroup limits: the sum of its containers', when every one has that limit (kubelet's rule for a pod-level limit). */
function podResources(pod: Pod) {
  const sum = (kind: 'cpu' | 'memory') => {
    const values = pod.spec.containers.map((c) => (c.resources?.limits?.[kind] !== undefined ? parseQuantity(c.resources.limits[kind]!) : undefined));
    return values.every((v) => v !== undefined) ? values.reduce((a, b) => a! + b!, 0) : undefined;
  };
  const cpu = sum('cpu');
  const memory = sum('memory');
  if (cpu === undefined && memory === undefined) return null;
  return {
    ...(cpu !== undefined ? { cpu_period: String(CPU_PERIOD_US), cpu_quota: String(cpuQuotaOf(cpu)) } : {}),
    ...(memory !== undefined ? { memory_limit_in_bytes: String(Math.round(memory)) } : {}),
  };
}

export interface Places {
  /** Where pod log folders go (kubelet: /var/log/pods). */
  logRoot: string;
  /** The agent's state folder: emptyDir volumes live in <state>/pods/<uid>/volumes/. */
  stateDir: string;
}

export function logDirectoryOf(pod: Pod, uid: string, places: Places): string {
  return path.join(places.logRoot, `${pod.metadata.namespace}_${pod.metadata.name}_${uid}`);
}

/** kubelet's place for a pod's emptyDir volumes: /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>. */
export function podDirOf(uid: string, places: Places): string {
  return path.join(places.stateDir, 'pods', uid);
}

export function sandboxConfigOf(pod: Pod, uid: string, attempt: number, places: Places): object {
  const hostNetwork = pod.spec.hostNetwork === true;
  return {
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid, attempt },
    hostname: hostNetwork ? '' : (pod.spec.hostname ?? pod.metadata.name).slice(0, 63),
    log_directory: logDirectoryOf(pod, uid, places),
    port_mappings: hostNetwork ? [] : portMappings(pod),
    labels: { ...pod.metadata.labels, [LABEL.podName]: pod.metadata.name, [LABEL.podNamespace]: pod.metadata.namespace, [LABEL.podUid]: uid },
    annotations: { ...pod.metadata.annotations, [ANNOTATION.sandboxHash]: sandboxHash(pod) },
    linux: {
      security_context: {
        namespace_options: { network: hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' },
        privileged: [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some((c) => c.securityContext?.privileged === true),
      },
      ...(podResources(pod) ? { resources: podResources(pod) } : {}),
    },
  };
}

export function containerConfigOf(pod: Pod, uid: string, container: ContainerSpec, options: { attempt: number; restartCount: number; init: boolean; places: Places }): object {
  const security = container.securityContext;
  const mounts = (container.volumeMounts ?? []).map((mount) => {
    const volume = pod.spec.volumes!.find((v) => v.name === mount.name)!;
    const hostPath = volume.hostPath ? volume.hostPath.path : path.join(podDirOf(uid, options.places), 'volumes', 'kubernetes.io~empty-dir', volume.name);
    return { container_path: mount.mountPath, host_path: hostPath, readonly: mount.readOnly === true };
  });
  const resources = containerResources(container);
  return {
    metadata: { name: container.name, attempt: options.attempt },
    image: { image: container.image, user_specified_image: container.image },
    command: container.command ?? [],
    args: container.args ?? [],
    working_dir: container.workingDir ?? '',
    envs: (container.env ?? []).map((variable) => ({ key: variable.name, value: variable.value ?? '' })),
    mounts,
    labels: { [LABEL.containerName]: container.name, [LABEL.podName]: pod.metadata.name, [LABEL.podNamespace]: pod.metadata.namespace, [LABEL.podUid]: uid },
    annotations: {
      [ANNOTATION.containerHash]: containerHash(pod, container),
      [ANNOTATION.restartCount]: String(options.restartCount),
      [ANNOTATION.gracePeriod]: String(pod.spec.terminationGracePeriodSeconds),
      ...(options.init ? { [ANNOTATION.containerType]: 'init' } : {}),
    },
    log_path: `${container.name}/${options.restartCount}.log`,
    linux: {
      ...(resources ? { resources } : {}),
      security_context: {
        ...(security?.runAsUser !== undefined ? { run_as_user: { value: String(security.runAsUser) } } : {}),
        ...(security?.runAsGroup !== undefined ? { run_as_group: { value: String(security.runAsGroup) } } : {}),
        readonly_rootfs: security?.readOnlyRootFilesystem === true,
        no_new_privs: security?.allowPrivilegeEscalation === false,
        privileged: security?.privileged === true,
        ...(security?.capabilities ? { capabilities: { add_capabilities: security.capabilities.add ?? [], drop_capabilities: security.capabilities.drop ?? [] } } : {}),
      },
    },
  };
}
