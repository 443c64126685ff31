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
import { notImplemented } from '#lib/not-implemented.ts';

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
  throw notImplemented("09-orchestration/sync-plan", "the actions for one pod: its sandbox (keep, or kill and create the next attempt), then its init containers in order, then its app containers by the restart policy; kills before starts");
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
