import { notImplemented } from '#lib/not-implemented.ts';
/**
 * The restart back-off: how long a container that exited waits before it is started again.
 *
 * A container that fails at once would otherwise be restarted in a tight loop, each start
 * costing a runtime call, a cgroup, a log file, and flooding the node. kubelet waits 10 s
 * before the first restart, then doubles the wait after every exit (20 s, 40 s, 80 s, 160 s)
 * up to 5 minutes; a container that ran for 10 minutes without exiting starts over at 10 s.
 * While it waits, the pod shows `CrashLoopBackOff` (kubectl get pods) and a BackOff event
 * ("Back-off restarting failed container").
 *
 * How real kubelet differs: its back-off (client-go's flowcontrol.Backoff) is keyed by pod
 * and container, starts its clock at the container's exit, and forgets an entry when no exit
 * came for twice the cap (10 min): nearly the rule here. It also restarts the very first
 * exit at once; we wait the base delay from the first one, as the lesson states it.
 */

export interface BackoffPolicy {
  /** The first delay (kubelet: 10 s). */
  baseMs: number;
  /** The longest delay (kubelet: 5 min). */
  capMs: number;
  /** A run at least this long starts the back-off over (kubelet: 10 min, twice the cap). */
  resetMs: number;
}

export const KUBELET_BACKOFF: BackoffPolicy = { baseMs: 10_000, capMs: 300_000, resetMs: 600_000 };

/** A policy from a base and a cap; the reset is twice the cap, as kubelet's. */
export function backoffPolicy(baseMs = KUBELET_BACKOFF.baseMs, capMs = KUBELET_BACKOFF.capMs): BackoffPolicy {
  return { baseMs, capMs: Math.max(capMs, baseMs), resetMs: 2 * Math.max(capMs, baseMs) };
}

/**
 * The delay before restarting a container that just exited. `previousMs` is the delay that
 * came before its last start (0: it never waited, this is its first exit), `ranMs` how long it
 * ran before this exit.
 */
export function nextBackoff(previousMs: number, ranMs: number, policy: BackoffPolicy): number {
  // EXERCISE(backoff): the first exit waits baseMs; each next one twice the previous delay, never more than capMs; a run of resetMs or more starts over at baseMs
  throw notImplemented("09-orchestration/backoff", "the first exit waits baseMs; each next one twice the previous delay, never more than capMs; a run of resetMs or more starts over at baseMs");
  // END EXERCISE
}

/** What the agent keeps per container (pod uid + container name): the delay and until when. */
export interface BackoffEntry {
  /** The exited container's id: one exit is counted once, however many syncs see it. */
  containerId: string;
  delayMs: number;
  /** Epoch ms: not restarted before. */
  until: number;
}

/** The entry after an exit seen at `finishedAt` (epoch ms) of a run that began at `startedAt`. */
export function afterExit(previous: BackoffEntry | undefined, containerId: string, startedAt: number, finishedAt: number, policy: BackoffPolicy): BackoffEntry {
  if (previous?.containerId === containerId) return previous;
  const delayMs = nextBackoff(previous?.delayMs ?? 0, Math.max(0, finishedAt - startedAt), policy);
  return { containerId, delayMs, until: finishedAt + delayMs };
}
