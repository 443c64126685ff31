/** Helpers for checks that expect errors, which keep a starter's "not implemented yet" visible. */
import { notImplementedIn } from '../not-implemented.ts';

/**
 * Resolve with the error a promise rejects with. A starter's "not implemented yet" error is
 * rethrown, so the learner sees it rather than "expected NotImplementedError to be an
 * instance of RuntimeError".
 */
export async function caught(promise: Promise<unknown>): Promise<Error | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if ((error as Error)?.name === 'NotImplementedError') throw error;
    // Named inside another error's message (a rollback that ran into a stub, a daemon's answer).
    const unfinished = notImplementedIn(String((error as Error)?.message ?? ''));
    if (unfinished) throw unfinished;
    return error as Error;
  }
}

/** What a failed CLI run said on stderr; an unfinished exercise in it is thrown as such. */
export function stderrOf(result: { stderr: string }): string {
  const unfinished = notImplementedIn(result.stderr);
  if (unfinished) throw unfinished;
  return result.stderr;
}

/**
 * A child process (a learner's program the check started) failed. If it failed on an
 * unfinished exercise, throw that NotImplementedError here, so the learner sees the same
 * "not implemented yet" message as everywhere else; otherwise rethrow the error.
 */
export function rethrowChildFailure(error: unknown): never {
  throw notImplementedIn(String((error as { stderr?: string }).stderr ?? '')) ?? error;
}
