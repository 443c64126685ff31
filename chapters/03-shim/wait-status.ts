/**
 * Decoding what waitpid(2) returns. The kernel packs a child's end into one int:
 *
 *   exited normally:   bits 8-15 hold the exit code, bits 0-6 are zero     (WIFEXITED, WEXITSTATUS)
 *   killed by signal:  bits 0-6 hold the signal number (bit 7: core dump) (WIFSIGNALED, WTERMSIG)
 *
 * Shells, Docker and Kubernetes report a death by signal N as exit code 128 + N: 137 for
 * SIGKILL (9), 143 for SIGTERM (15).
 */
import os from 'node:os';
import { notImplemented } from '#lib/not-implemented.ts';

export interface DecodedStatus {
  /** The exit code, or 128 + the signal number when a signal killed the process. */
  exitCode: number;
  /** The signal's name (e.g. "SIGKILL") when a signal killed it. */
  signal?: string;
}

/** Signal number -> name, e.g. 9 -> "SIGKILL". */
export function signalName(signal: number): string {
  return Object.entries(os.constants.signals).find(([, number]) => number === signal)?.[0] ?? `signal ${signal}`;
}

export function decodeWaitStatus(status: number): DecodedStatus {
  // EXERCISE(wait-status): decode a raw waitpid status into an exit code, and a signal name when a signal killed the process
  // Hints: status & 0x7f is the terminating signal (0: it exited); (status >> 8) & 0xff is
  // the exit code. signalName() turns 9 into "SIGKILL".
  throw notImplemented("03-shim/wait-status", "decode a raw waitpid status into an exit code, and a signal name when a signal killed the process");
  // END EXERCISE
}
