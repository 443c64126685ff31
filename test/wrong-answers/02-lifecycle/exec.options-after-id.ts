// wrong: puts the options after the id, where runc takes them for the command's arguments
// caught by: each method alone.* exec:
const args = ['exec', id];
for (const entry of options.env ?? []) args.push('--env', entry);
if (options.cwd) args.push('--cwd', options.cwd);
if (options.user) args.push('--user', `${options.user.uid}:${options.user.gid}`);
args.push(...options.args);
const result = await this.invoke(args, { timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
