/**
 * The heart of a node agent: compare what should run (the manifests) with what runs (the
 * runtime's sandboxes and containers, as ListPodSandbox and ListContainers tell it) and say
 * what to do about the difference. No I/O here: a pure function of the two lists, so that
 * every case can be checked alone; agent.ts carries the actions out through the CRI.
 *
 * For each pod:
 *   - its manifest is gone: kill the pod (every sandbox of its uid);
 *   - no sandbox, a sandbox that is not ready, or one made from another spec (other ports,
 *     host network): a new sandbox, with the next attempt number, after the old one is gone;
 *     but a pod that ran to its end (restartPolicy Never, or OnFailure and all succeeded)
 *     is not started again;
 *   - init containers one at a time, in order, each to success (exit 0) before the next;
 *     a failed one is run again (unless Never: then the pod has failed); app containers
 *     only when every init container succeeded;
 *   - an app container that is missing is started; one that exited is restarted as the
 *     restart policy says (Always: any exit; OnFailure: a non-zero exit; Never: no), after
 *     its back-off; a running one made from another spec (its hash) is replaced at once;
 *   - only the latest attempt of each container is kept (older ones removed), and a
 *     container the manifest no longer names is killed.
 *
 * How real kubelet differs: this is its computePodActions (pkg/kubelet/kuberuntime/
 * kuberuntime_manager.go), which also handles ephemeral containers, in-place resizes and
 * sidecars (init containers with restartPolicy Always), and keeps a few dead containers per
 * pod for `kubectl logs --previous`. Its per-pod workers run one pod's actions at a time, as
 * our agent does.
 */
import type { RestartPolicy } from './manifest.ts';

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ActualContainer {
  id: string;
  name: string;
  attempt: number;
  /** The io.kubernetes.container.hash annotation it was created with. */
  hash: string;
  restartCount: number;
  state: ContainerState;
  /** Meaningful once exited. */
  exitCode: number;
  /** Epoch ms; 0 when not yet. */
  startedAt: number;
  finishedAt: number;
}

export interface ActualSandbox {
  id: string;
  uid: string;
  attempt: number;
  ready: boolean;
  /** The conman-agent.io/sandbox-hash annotation. */
  hash: string;
  createdAt: number;
  containers: ActualContainer[];
}

export interface DesiredContainer {
  name: string;
  hash: string;
}

export interface DesiredPod {
  uid: string;
  sandboxHash: string;
  restartPolicy: RestartPolicy;
  initContainers: DesiredContainer[];
  containers: DesiredContainer[];
}

export type Action =
  | { kind: 'killPod'; uid: string; sandboxIds: string[]; reason: string }
  | { kind: 'killSandbox'; uid: string; sandboxId: string; reason: string }
  | { kind: 'createSandbox'; uid: string; attempt: number }
  | { kind: 'killContainer'; uid: string; containerId: string; name: string; reason: string }
  | { kind: 'removeContainer'; uid: string; containerId: string; name: string }
  | {
      kind: 'startContainer';
      uid: string;
      sandboxId: string;
      name: string;
      init: boolean;
      attempt: number;
      restartCount: number;
      /** The container this one replaces, if any. */
      previous?: ActualContainer;
      /** An exit is being restarted: wait out the back-off first (not for a changed spec). */
      backoff: boolean;
    };

/** Is an exited container started again? */
export function restartWanted(policy: RestartPolicy, exitCode: number): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

/** Has the pod run to its end: every app container exited and none to be restarted? */
export function podFinished(pod: DesiredPod, containers: ActualContainer[]): boolean {
  if (pod.restartPolicy === 'Always') return false;
  return pod.containers.every((spec) => {
    const latest = containers.filter((c) => c.name === spec.name).sort((a, b) => b.attempt - a.attempt)[0];
    return latest?.state === 'CONTAINER_EXITED' && !restartWanted(pod.restartPolicy, latest.exitCode);
  });
}

/** The actions for one pod that should run, given its sandboxes (any state, any attempt). */
export function planPod(pod: DesiredPod, sandboxes: ActualSandbox[]): Action[] {
  const actions: Action[] = [];
  const uid = pod.uid;
  // EXERCISE(sync-plan): the actions for one pod: its sandbox (keep, or kill and create the next attempt), then its init containers in order, then its app containers by the restart policy; kills before starts
  const [current, ...older] = [...sandboxes].sort((a, b) => b.attempt - a.attempt || b.createdAt - a.createdAt);
  for (const old of older) actions.push({ kind: 'killSandbox', uid, sandboxId: old.id, reason: 'an older sandbox of the pod' });

  // The sandbox first: without a ready one made from this spec, nothing else can be done.
  const changed = current !== undefined && current.hash !== pod.sandboxHash;
  if (!current || !current.ready || changed) {
    if (current && !changed && podFinished(pod, current.containers)) return actions; // it ran to its end: leave it so
    if (current) actions.push({ kind: 'killSandbox', uid, sandboxId: current.id, reason: changed ? 'the pod sandbox changed: it will be killed and re-created' : 'the pod sandbox is not ready: it will be re-created' });
    actions.push({ kind: 'createSandbox', uid, attempt: current ? current.attempt + 1 : 0 });
    return actions;
  }

  // The latest attempt of each container; older ones go (a running one is killed first).
  const latest = new Map<string, ActualContainer>();
  for (const container of [...current.containers].sort((a, b) => a.attempt - b.attempt)) {
    const before = latest.get(container.name);
    if (before) actions.push(before.state === 'CONTAINER_EXITED' ? { kind: 'removeContainer', uid, containerId: before.id, name: before.name } : { kind: 'killContainer', uid, containerId: before.id, name: before.name, reason: 'an older attempt' });
    latest.set(container.name, container);
  }
  const named = new Set([...pod.initContainers, ...pod.containers].map((c) => c.name));
  for (const container of latest.values()) {
    if (!named.has(container.name) && container.state !== 'CONTAINER_EXITED') actions.push({ kind: 'killContainer', uid, containerId: container.id, name: container.name, reason: 'not in the manifest any more' });
  }

  const start = (spec: DesiredContainer, init: boolean, previous: ActualContainer | undefined, backoff: boolean): Action => ({
    kind: 'startContainer', uid, sandboxId: current.id, name: spec.name, init,
    attempt: previous ? previous.attempt + 1 : 0,
    restartCount: previous ? previous.restartCount + 1 : 0,
    ...(previous ? { previous } : {}),
    backoff,
  });

  // Init containers, one at a time, each to success; skipped once an app container exists
  // (they ran: after an agent restart, or once their exited containers were removed).
  if (!pod.containers.some((spec) => latest.has(spec.name))) {
    for (const spec of pod.initContainers) {
      const container = latest.get(spec.name);
      if (!container) return [...actions, start(spec, true, undefined, false)];
      if (container.state !== 'CONTAINER_EXITED') return actions; // still running: wait for it
      if (container.exitCode === 0) continue;
      // Failed: again (Always and OnFailure), or the pod has failed (Never).
      if (pod.restartPolicy !== 'Never') actions.push(start(spec, true, container, true));
      return actions;
    }
  }

  for (const spec of pod.containers) {
    const container = latest.get(spec.name);
    if (!container) actions.push(start(spec, false, undefined, false));
    else if (container.state === 'CONTAINER_EXITED') {
      if (restartWanted(pod.restartPolicy, container.exitCode)) actions.push(start(spec, false, container, true));
    } else if (container.hash !== spec.hash || container.state !== 'CONTAINER_RUNNING') {
      // Another spec (the manifest changed), or created and never started (we died in between): replace it now.
      const reason = container.hash !== spec.hash ? 'its spec changed: it will be killed and re-created' : `it is ${container.state}: it will be re-created`;
      actions.push({ kind: 'killContainer', uid, containerId: container.id, name: container.name, reason }, start(spec, false, container, false));
    }
  }
  // Kills first: a new container must not meet the one it replaces (a port, a volume).
  const order = (action: Action) => (action.kind === 'startContainer' ? 1 : 0);
  return actions.sort((a, b) => order(a) - order(b));
  // END EXERCISE
}

/** The plan for the whole node: every wanted pod's actions, and every unwanted pod killed (first). */
export function syncPlan(desired: DesiredPod[], actual: ActualSandbox[]): Action[] {
  const wanted = new Set(desired.map((pod) => pod.uid));
  const byUid = new Map<string, ActualSandbox[]>();
  for (const sandbox of actual) byUid.set(sandbox.uid, [...(byUid.get(sandbox.uid) ?? []), sandbox]);
  const kills: Action[] = [];
  for (const [uid, sandboxes] of byUid) {
    if (!wanted.has(uid)) kills.push({ kind: 'killPod', uid, sandboxIds: sandboxes.map((s) => s.id), reason: 'its manifest is gone' });
  }
  return [...kills, ...desired.flatMap((pod) => planPod(pod, byUid.get(pod.uid) ?? []))];
}
