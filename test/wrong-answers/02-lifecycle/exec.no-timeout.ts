// wrong: ignores timeoutMs: a process that hangs keeps exec waiting for the default 30 s
// caught by: each method alone.* exec:
const args = ['exec'];
for (const entry of options.env ?? []) args.push('--env', entry);
if (options.cwd) args.push('--cwd', options.cwd);
if (options.user) args.push('--user', `${options.user.uid}:${options.user.gid}`);
args.push(id, ...options.args);
const result = await this.invoke(args, { timeout: DEFAULT_TIMEOUT_MS });
return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
