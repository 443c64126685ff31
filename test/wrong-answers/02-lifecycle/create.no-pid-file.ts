// wrong: forgets the pid file and the stdio given
// caught by: each method alone.* create
const args = ['create', '--bundle', options.bundle];
if (options.consoleSocket) args.push('--console-socket', options.consoleSocket);
args.push(id);
await this.invoke(args, { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
