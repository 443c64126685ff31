/**
 * A pod's status, as Kubernetes writes it (`kubectl get pod web -o yaml`, under `status:`):
 * its phase, conditions, IP, and one status per container (running, waiting with a reason,
 * or terminated with an exit code), computed from what the runtime shows and what the agent
 * knows besides (a back-off running, a pull that failed, a probe's verdict). And the STATUS
 * column of `kubectl get pods`, which is not a field but kubectl's own summary of them
 * (Running, ContainerCreating, Init:0/1, CrashLoopBackOff, Completed, Error, Terminating).
 *
 * How real kubelet differs: it computes the same (generateAPIPodStatus, in
 * pkg/kubelet/kubelet_pods.go) and sends it to the API server; kubectl's printer
 * (pkg/printers/internalversion/printers.go, printPod) makes the column, as summary() here.
 */
import type { ObservedContainer, ObservedSandbox } from './actual-state.ts';
import type { PodEvent } from './events.ts';
import type { ContainerSpec, Pod } from './manifest.ts';
import { podFinished, restartWanted, type DesiredPod } from './sync-plan.ts';

export interface ContainerState {
  running?: { startedAt: string };
  waiting?: { reason: string; message?: string };
  terminated?: { exitCode: number; reason: string; startedAt: string; finishedAt: string };
}

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerState;
  lastState?: ContainerState;
}

export interface PodStatus {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  reason?: string;
  message?: string;
  podIP?: string;
  hostIP?: string;
  startTime?: string;
  conditions: { type: string; status: 'True' | 'False' }[];
  initContainerStatuses: ContainerStatus[];
  containerStatuses: ContainerStatus[];
}

/** What the agent writes per manifest (<state>/status/<file>.status.yaml): the Pod, its status, its events. */
export interface PodDocument {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: { name: string; namespace: string; uid?: string; labels?: Record<string, string>; annotations: Record<string, string>; creationTimestamp?: string };
  spec?: Pod['spec'];
  status: PodStatus;
  events: PodEvent[];
}

export const MANIFEST_ANNOTATION = 'conman-agent.io/manifest';
/** kubectl's STATUS column, kept in the file so that `get pods` need not compute it. */
export const DISPLAY_ANNOTATION = 'conman-agent.io/status';

const iso = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : undefined);

export interface StatusInputs {
  file: string;
  pod: Pod;
  desired: DesiredPod;
  sandbox: ObservedSandbox | undefined;
  /** Why a container waits, when the agent knows better than the runtime (CrashLoopBackOff, ErrImagePull). */
  waiting: (name: string) => { reason: string; message?: string } | undefined;
  /** The readiness probe's verdict for a container; undefined when it has none. */
  readiness: (containerId: string) => boolean | undefined;
  terminating: boolean;
  hostIP: string;
  events: PodEvent[];
}

function stateOf(container: ObservedContainer | undefined, waiting: { reason: string; message?: string } | undefined, defaultWaiting: string): ContainerState {
  if (waiting && (!container || container.state !== 'CONTAINER_RUNNING')) return { waiting };
  if (!container) return { waiting: { reason: defaultWaiting } };
  if (container.state === 'CONTAINER_RUNNING') return { running: { startedAt: iso(container.startedAt)! } };
  if (container.state === 'CONTAINER_EXITED') return { terminated: { exitCode: container.exitCode, reason: container.reason || (container.exitCode === 0 ? 'Completed' : 'Error'), startedAt: iso(container.startedAt) ?? '', finishedAt: iso(container.finishedAt) ?? '' } };
  return { waiting: { reason: 'ContainerCreating' } };
}

export function podStatusOf(inputs: StatusInputs): PodDocument {
  const { pod, sandbox } = inputs;
  const latest = new Map<string, ObservedContainer>();
  const lastExited = new Map<string, ObservedContainer>();
  for (const container of [...(sandbox?.containers ?? [])].sort((a, b) => a.attempt - b.attempt)) {
    latest.set(container.name, container);
    if (container.state === 'CONTAINER_EXITED') lastExited.set(container.name, container);
  }
  const sandboxUp = sandbox?.ready === true;

  const statusOf = (spec: ContainerSpec, init: boolean, defaultWaiting: string): ContainerStatus => {
    const container = latest.get(spec.name);
    const state = stateOf(container, inputs.waiting(spec.name), sandboxUp ? defaultWaiting : 'ContainerCreating');
    const running = state.running !== undefined;
    const readiness = container && running ? inputs.readiness(container.id) : undefined;
    return {
      name: spec.name,
      image: spec.image,
      imageID: container?.imageRef ?? '',
      containerID: container ? `conman://${container.id}` : '',
      // An init container is "ready" once it succeeded; an app container when running and its readiness probe (if any) agrees.
      ready: init ? state.terminated?.exitCode === 0 : running && readiness !== false,
      started: running,
      restartCount: container?.restartCount ?? 0,
      state,
      // Waiting to be restarted (a back-off, or its next attempt created and not yet started):
      // how its last run ended, as kubectl shows it. Once it runs again, that exited container
      // is removed, and its last state with it (kubelet keeps one dead container per name for
      // this and for `logs --previous`).
      ...(state.waiting && lastExited.has(spec.name) ? { lastState: stateOf(lastExited.get(spec.name), undefined, '') } : {}),
    };
  };
  const inits = (pod.spec.initContainers ?? []).map((spec) => statusOf(spec, true, 'PodInitializing'));
  const initsDone = inits.every((s) => s.state.terminated?.exitCode === 0) || pod.spec.containers.some((spec) => latest.has(spec.name));
  const apps = pod.spec.containers.map((spec) => statusOf(spec, false, initsDone ? 'ContainerCreating' : 'PodInitializing'));

  // The phase: Pending until every container has been created and one runs; Succeeded or Failed once all ended for good.
  const containers = [...latest.values()];
  let phase: PodStatus['phase'] = 'Pending';
  const initFailed = pod.spec.restartPolicy === 'Never' && inits.some((s) => s.state.terminated && s.state.terminated.exitCode !== 0);
  if (initFailed) phase = 'Failed';
  else if (sandbox && podFinished(inputs.desired, containers)) phase = apps.every((s) => s.state.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
  else if (initsDone && apps.every((s) => s.containerID) && apps.some((s) => s.state.running || (s.state.terminated && restartWanted(pod.spec.restartPolicy!, s.state.terminated.exitCode)) || s.state.waiting?.reason === 'CrashLoopBackOff')) phase = 'Running';

  const ready = phase === 'Running' && apps.every((s) => s.ready);
  const status: PodStatus = {
    phase,
    ...(sandbox?.ip ? { podIP: sandbox.ip } : {}),
    hostIP: inputs.hostIP,
    ...(sandbox ? { startTime: iso(sandbox.createdAt) } : {}),
    conditions: [
      { type: 'PodScheduled', status: 'True' },
      { type: 'Initialized', status: initsDone ? 'True' : 'False' },
      { type: 'ContainersReady', status: apps.every((s) => s.ready) ? 'True' : 'False' },
      { type: 'Ready', status: ready ? 'True' : 'False' },
    ],
    initContainerStatuses: inits,
    containerStatuses: apps,
  };
  const document: PodDocument = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.metadata.name,
      namespace: pod.metadata.namespace!,
      uid: inputs.desired.uid,
      labels: pod.metadata.labels,
      annotations: { ...pod.metadata.annotations, [MANIFEST_ANNOTATION]: inputs.file },
      ...(sandbox ? { creationTimestamp: iso(sandbox.createdAt) } : {}),
    },
    spec: pod.spec,
    status,
    events: inputs.events,
  };
  document.metadata.annotations[DISPLAY_ANNOTATION] = inputs.terminating ? 'Terminating' : summary(status);
  return document;
}

/** The document of a manifest that cannot run: its errors, in the status and as its STATUS. */
export function invalidPodDocument(file: string, document: unknown, message: string, events: PodEvent[]): PodDocument {
  const metadata = (typeof document === 'object' && document !== null ? (document as { metadata?: { name?: unknown; namespace?: unknown } }).metadata : undefined) ?? {};
  const name = typeof metadata.name === 'string' && metadata.name ? metadata.name : file.replace(/\.(ya?ml|json)$/, '');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: typeof metadata.namespace === 'string' && metadata.namespace ? metadata.namespace : 'default', annotations: { [MANIFEST_ANNOTATION]: file, [DISPLAY_ANNOTATION]: 'Invalid' } },
    status: { phase: 'Failed', reason: 'Invalid', message, conditions: [], initContainerStatuses: [], containerStatuses: [] },
    events,
  };
}

/** kubectl's STATUS column (printPod): the reason of the first container that is not fine, else the phase. */
export function summary(status: PodStatus): string {
  let reason: string = status.reason ?? status.phase;
  let initializing = false;
  status.initContainerStatuses.forEach((init, i) => {
    if (initializing) return;
    const t = init.state.terminated;
    if (t && t.exitCode === 0) return;
    initializing = true;
    if (t) reason = `Init:${t.reason || `ExitCode:${t.exitCode}`}`;
    else if (init.state.waiting && init.state.waiting.reason !== 'PodInitializing') reason = `Init:${init.state.waiting.reason}`;
    else reason = `Init:${i}/${status.initContainerStatuses.length}`;
  });
  if (initializing && status.containerStatuses.some((c) => c.containerID)) initializing = false; // (the app containers run: inits are history)
  if (!initializing) {
    reason = status.reason ?? status.phase;
    let running = false;
    for (const container of [...status.containerStatuses].reverse()) {
      if (container.state.waiting?.reason) reason = container.state.waiting.reason;
      else if (container.state.terminated) reason = container.state.terminated.reason || `ExitCode:${container.state.terminated.exitCode}`;
      else if (container.ready && container.state.running) running = true;
    }
    if (reason === 'Completed' && running) reason = 'Running';
  }
  return reason;
}

/** READY, RESTARTS of `kubectl get pods`. */
export function readyColumn(status: PodStatus): string {
  return `${status.containerStatuses.filter((c) => c.ready).length}/${status.containerStatuses.length}`;
}

export function restartsOf(status: PodStatus): number {
  return status.containerStatuses.reduce((sum, c) => sum + c.restartCount, 0);
}
