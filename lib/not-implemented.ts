/**
 * What a starter's exercise stub throws. The workshop's checks recognise this error and show
 * its message to the learner, instead of a stack trace: it names the exercise, the file and
 * what to do.
 */
export class NotImplementedError extends Error {
  constructor(
    readonly exercise: string,
    readonly task: string,
  ) {
    super(`not implemented yet: ${task} (exercise ${exercise})`);
    this.name = 'NotImplementedError';
  }
}

/** Used by generated starters: `throw notImplemented('01-bundle/rootfs', 'copy busybox ...')`. */
export function notImplemented(exercise: string, task: string): NotImplementedError {
  return new NotImplementedError(exercise, task);
}

/**
 * The "not implemented yet" error a child process reported in `text` (its stderr or log),
 * rebuilt here: a learner sees the same message whichever process hit the stub.
 */
export function notImplementedIn(text: string): NotImplementedError | undefined {
  const match = /not implemented yet: (.+?) \(exercise ([\w/-]+)\)/.exec(text);
  return match ? new NotImplementedError(match[2], match[1]) : undefined;
}
