// wrong: the timeout taken as milliseconds (setTimeout's unit), so any command longer than a few ms "times out"
// caught by: runToEnd
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
  }, timeoutSeconds);
});
try {
  const exit = await Promise.race([session.exit, deadline]);
  return { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), exit_code: exit.exitCode };
} finally {
  clearTimeout(timer); // an exit before the deadline must not leave a timer (and its kill) pending
  session.close();
}
