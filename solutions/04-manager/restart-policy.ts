/**
 * Restart policies, as Docker spells them: `no`, `on-failure[:N]` (a non-zero exit, at most
 * N times), `always` (any exit, unless someone stopped the container on purpose). Between
 * restarts the manager waits, doubling the wait each time, so a container that crashes at
 * once does not eat the machine: Docker starts at 100 ms and doubles up to a minute;
 * Kubernetes' CrashLoopBackOff starts at 10 s and stops at 5 minutes.
 */
import { badRequest } from './errors.ts';

export type RestartPolicy = { name: 'no' } | { name: 'always' } | { name: 'on-failure'; maxRetries?: number };

export const FIRST_DELAY_MS = 100;
export const MAX_DELAY_MS = 10_000;
/** The largest on-failure:N, as Docker's MaximumRetryCount (a 32-bit int). */
export const MAX_RETRIES = 2 ** 31 - 1;

/** "no", "always", "on-failure" or "on-failure:3" → a policy; anything else is a 400 naming it. */
export function parseRestartPolicy(text: string): RestartPolicy {
  if (text === 'no' || text === 'always') return { name: text };
  const match = /^on-failure(?::(\d+))?$/.exec(text);
  if (match) {
    const maxRetries = match[1] === undefined ? undefined : Number(match[1]);
    if (maxRetries === 0) throw badRequest('restart policy "on-failure:0": the count must be at least 1 (or use "no")');
    // (A count past this would be Infinity in memory and null in record.json: another policy after a restart.)
    if (maxRetries !== undefined && maxRetries > MAX_RETRIES) throw badRequest(`restart policy "${text}": the count must be from 1 to ${MAX_RETRIES}`);
    return maxRetries === undefined ? { name: 'on-failure' } : { name: 'on-failure', maxRetries };
  }
  throw badRequest(`unknown restart policy "${text}": use no, always, on-failure or on-failure:N`);
}

/**
 * Should a container that exited with `exitCode` be started again? `restartCount` is how
 * many times the policy restarted it already; `stoppedByUser` is true after `conman stop`.
 */
export function shouldRestart(policy: RestartPolicy, exitCode: number, restartCount: number, stoppedByUser: boolean): boolean {
  // EXERCISE(restart-policy): decide from the policy, the exit code, the restarts so far and whether someone stopped it
  // Hints: Docker's rules. A container stopped by hand is never restarted, whatever the
  // policy; on-failure counts only non-zero exits, and gives up after maxRetries restarts.
  if (stoppedByUser) return false;
  switch (policy.name) {
    case 'no':
      return false;
    case 'always':
      return true;
    case 'on-failure':
      return exitCode !== 0 && (policy.maxRetries === undefined || restartCount < policy.maxRetries);
  }
  // END EXERCISE
}

/** The wait before restart number `restartCount + 1`: 100 ms, 200, 400... up to MAX_DELAY_MS. */
export function restartDelayMs(restartCount: number): number {
  return Math.min(FIRST_DELAY_MS * 2 ** restartCount, MAX_DELAY_MS);
}
