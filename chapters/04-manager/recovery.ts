/**
 * Recovery: what a manager does when it starts, maybe after a crash, maybe after an upgrade,
 * while containers kept running under their shims.
 *
 * The records say what the manager last knew; the shims know what is true now. For each
 * container the manager looks at its shim's folder (observeShim) and decides (reconcile):
 *
 *   exit.json written               → exited during the outage, with its real exit code
 *                                     (first: a shim lingers a while after its container)
 *   shim alive                      → running: reconnect to it
 *   no live shim, no exit.json      → if it had been started: unknown (the shim was killed,
 *                                     the machine rebooted...); it can still be removed
 *   never started                   → created, as before
 *
 * containerd does the same at start-up: it reloads its tasks and reconnects to each shim's
 * socket (loadShims), and cleans up after shims that are gone; dockerd then asks containerd
 * for each container's state. conmon-based podman has no daemon: every command re-reads the
 * exit files conmon left.
 */
import { readExitStatus, type ExitStatus } from '#lower/03-shim/exit-status.ts';
import { isAlive, readIdentity } from '#lower/03-shim/identity.ts';
import type { ContainerRecord, ContainerStatus } from './records.ts';
import { notImplemented } from '#lib/not-implemented.ts';

/** What a shim's folder shows right now. */
export interface ShimObservation {
  /** Its shim.json names a process that is still the same process (PID and start time). */
  shimAlive: boolean;
  /** The exit status the shim recorded, if the container has exited. */
  exit?: ExitStatus;
}

export function observeShim(shimDir: string): ShimObservation {
  const identity = readIdentity(shimDir);
  return { shimAlive: identity !== undefined && isAlive(identity), exit: readExitStatus(shimDir) };
}

/** What to do about one container after a restart. */
export type Reconciliation =
  | { status: 'running' } // reconnect to the live shim
  | { status: 'exited'; exit: ExitStatus } // record the exit (then: restart policy, --rm)
  | { status: ContainerStatus; exit?: undefined }; // keep or set this status; nothing runs

/**
 * Decide a container's state from its record and what its shim's folder shows. The order
 * matters: an exit file wins over a live shim (a shim lingers after its container exited),
 * and a live shim wins over whatever the record says.
 */
export function reconcile(record: ContainerRecord, observed: ShimObservation): Reconciliation {
  // EXERCISE(reconcile): decide running / exited / unknown / unchanged from the record and the observation
  // Hints: a record in "removing" stays so (the manager finishes the removal). "created",
  // "exited" and "restarting" containers had no live shim when the manager stopped, so keep
  // them as they are unless a shim shows otherwise. Only a container that was "running"
  // (or "unknown") and has neither a live shim nor an exit file is "unknown".
  throw notImplemented("04-manager/reconcile", "decide running / exited / unknown / unchanged from the record and the observation");
  // END EXERCISE
}
