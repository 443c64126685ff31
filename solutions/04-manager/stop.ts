/**
 * Stopping a container politely: SIGTERM, a grace period, then SIGKILL. A program gets the
 * chance to finish its work and exit on its own; one that ignores SIGTERM (or a shell as
 * PID 1, which has no default action for it) is killed when the time is up. `docker stop -t`,
 * `podman stop -t` and Kubernetes' terminationGracePeriodSeconds all work this way. An image
 * may name another polite signal (its config's StopSignal: nginx asks for SIGQUIT, a graceful
 * shutdown): chapter 05 passes it as `signal`.
 */
import type { ShimClient } from '#lower/03-shim/client.ts';
import type { ExitStatus } from '#lower/03-shim/exit-status.ts';

/** Stop the container behind `shim` with `signal`, then SIGKILL; resolves with its exit status once it has exited. */
export async function stopContainer(shim: ShimClient, timeoutMs: number, signal = 'SIGTERM'): Promise<ExitStatus> {
  // EXERCISE(stop): send `signal` (SIGTERM), wait up to timeoutMs for the exit, then send SIGKILL and wait again
  // Hints: shim.wait() resolves when the container has exited; race it against a timer.
  // A kill can fail because the container exited in between: then just wait for the status.
  // A promise nobody handles yet must get a .catch(() => {}), or its rejection kills Node.
  const exited = shim.wait();
  exited.catch(() => {}); // handled below; until then, a shim that is gone must not crash us
  await shim.kill(signal).catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  await shim.kill('SIGKILL').catch(() => {});
  return exited;
  // END EXERCISE
}
