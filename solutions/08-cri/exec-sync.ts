/**
 * ExecSync's heart: wait for a command run in a container to end, collect its output, and
 * bound the wait. kubelet's exec probes (`livenessProbe: exec: ...`) are ExecSync calls whose
 * `timeout` is the probe's timeoutSeconds: a probe command that hangs must fail the probe
 * with DEADLINE_EXCEEDED, and must not be left running in the container, where every probe
 * period would start one more.
 *
 * The session is chapter 04's (Manager.exec): its output arrives through onOutput, its exit
 * through `exit`. `kill` ends the process (the manager's killExec: SIGKILL through the shim).
 */
import { status as Status } from '@grpc/grpc-js';
import type { Session } from '#lower/04-manager/session.ts';
import { grpcError } from './grpc-errors.ts';

export type ExecSession = Pick<Session, 'onOutput' | 'exit' | 'close'>;

export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exit_code: number;
}

/** `timeoutSeconds`: the CRI's, in seconds; 0 means no bound (the CRI's "run forever"). */
export async function runToEnd(session: ExecSession, timeoutSeconds: number, kill: () => Promise<void>): Promise<ExecSyncResult> {
  // EXERCISE(exec-timeout): collect stdout and stderr apart; settle with the exit code, or past timeoutSeconds (0: never) kill the process and throw DEADLINE_EXCEEDED; close the session either way, and leave no timer behind
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  session.onOutput((stream, chunk) => (stream === 'stdout' ? stdout : stderr).push(chunk));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    if (timeoutSeconds <= 0) return; // no bound: only the exit settles the race
    timer = setTimeout(() => {
      // Kill it, or it runs on in the container after the caller has given up on it.
      kill().catch(() => {}); // (it may have ended meanwhile: nothing to kill is fine)
      reject(grpcError(Status.DEADLINE_EXCEEDED, `the command did not end within its timeout of ${timeoutSeconds} s, and was killed`));
    }, timeoutSeconds * 1000);
  });
  try {
    const exit = await Promise.race([session.exit, deadline]);
    return { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), exit_code: exit.exitCode };
  } finally {
    clearTimeout(timer); // an exit before the deadline must not leave a timer (and its kill) pending
    session.close();
  }
  // END EXERCISE
}
