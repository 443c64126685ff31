// wrong: always passes the pid file in a template string: with none given, runc writes a file named "undefined"
// caught by: each method alone.* create
const args = ['create', '--bundle', options.bundle, `--pid-file=${options.pidFile}`];
if (options.consoleSocket) args.push('--console-socket', options.consoleSocket);
args.push(id);
const stdio = options.stdio ?? {};
await this.invoke(args, { stdin: fdOption(stdio.stdin), stdout: fdOption(stdio.stdout), stderr: fdOption(stdio.stderr) });
