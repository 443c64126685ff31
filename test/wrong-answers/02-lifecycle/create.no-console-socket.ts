// wrong: forgets the console socket: runc refuses a terminal bundle ("cannot allocate tty if runc will detach without setting console socket")
// caught by: each method alone.* create
const args = ['create', '--bundle', options.bundle];
if (options.pidFile) args.push('--pid-file', options.pidFile);
args.push(id);
const stdio = options.stdio ?? {};
await this.invoke(args, { stdin: fdOption(stdio.stdin), stdout: fdOption(stdio.stdout), stderr: fdOption(stdio.stderr) });
