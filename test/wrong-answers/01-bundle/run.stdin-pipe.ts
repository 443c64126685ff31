// wrong: leaves execa's default stdin, a pipe nobody closes: a container that reads its stdin waits until the timeout
// caught by: runContainer
const logFile = path.join(bundleDir, 'runtime.log');
await fs.rm(logFile, { force: true });
await fs.mkdir(stateRoot, { recursive: true, mode: 0o700 });
const args = ['--root', stateRoot, '--log', logFile, '--log-format', 'json', 'run', '--bundle', bundleDir, options.id];
const result = await execa(runtime, args, { reject: false, timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
if (result.timedOut) {
  await execa(runtime, ['--root', stateRoot, 'delete', '--force', options.id], { reject: false });
  throw new RuntimeError(runtime, `timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`, `${runtime} ${args.join(' ')}`);
}
if (result.failed && result.exitCode === undefined) throw new RuntimeError(runtime, `could not start it (${result.code}): is it installed?`, `${runtime} ${args.join(' ')}`);
const errors = await readRuntimeErrors(logFile);
if (errors.length > 0) throw new RuntimeError(runtime, errors.join('; '), `${runtime} ${args.join(' ')}`);
return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
