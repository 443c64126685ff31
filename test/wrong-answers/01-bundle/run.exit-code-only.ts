// wrong: trusts the exit code alone: a runc failure comes back as an ordinary exit 1, and an old runtime.log is never removed
// caught by: runContainer
await fs.mkdir(stateRoot, { recursive: true, mode: 0o700 });
const args = ['--root', stateRoot, 'run', '--bundle', bundleDir, options.id];
const result = await execa(runtime, args, { reject: false, stdin: 'ignore', timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
