// wrong: forgets the user and the working directory
// caught by: each method alone.* exec:
const args = ['exec'];
for (const entry of options.env ?? []) args.push('--env', entry);
args.push(id, ...options.args);
const result = await this.invoke(args, { timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
