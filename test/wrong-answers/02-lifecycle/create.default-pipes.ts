// wrong: leaves execa's default stdio (pipes back to us): create then waits as long as the container lives
// caught by: each method alone.* create
const args = ['create', '--bundle', options.bundle];
if (options.pidFile) args.push('--pid-file', options.pidFile);
if (options.consoleSocket) args.push('--console-socket', options.consoleSocket);
args.push(id);
await this.invoke(args, { timeout: 60_000 });
