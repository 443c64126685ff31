/**
 * Errors a caller can act on. Each carries the HTTP status the daemon answers with, so the
 * library, the daemon and the CLI agree on what went wrong: 404 nothing by that name, 409 not
 * in a state that allows it, 400 a request that makes no sense, 429 too many of something at
 * once, 507 a full disk (disk-full.ts). Anything else is a 500: a bug (or an unfinished
 * exercise), reported with its message.
 */
export class ManagerError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 429 | 507,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (ref: string) => new ManagerError(404, `no such container: ${ref}`);
export const conflict = (message: string) => new ManagerError(409, message);
export const badRequest = (message: string) => new ManagerError(400, message);

/**
 * The runtime could not start the process because of the request (a command that is not in
 * the image): a 400 that says so in one line, instead of runc's whole command line. Else
 * undefined. runc says `exec: "x": executable file not found in $PATH`; crun says
 * "executable file `x` not found in $PATH".
 */
export function cannotRun(runtimeMessage: string): ManagerError | undefined {
  const runc = /exec: "([^"]*)": ([^\n;]*)/.exec(runtimeMessage);
  if (runc) return badRequest(`cannot run "${runc[1]}" in the container: ${runc[2].replace(/: unknown$/, '')}`);
  const crun = /executable file `([^`]*)` not found in \$PATH/.exec(runtimeMessage);
  if (crun) return badRequest(`cannot run "${crun[1]}" in the container: executable file not found in $PATH`);
  return undefined;
}

/** The status code for any error: its own for a ManagerError, 500 for the rest. */
export function statusOf(error: unknown): number {
  return error instanceof ManagerError ? error.status : 500;
}
