// wrong: SIGTERM whatever signal is asked for (an image's StopSignal is ignored)
// caught by: stopContainer
const exited = shim.wait();
exited.catch(() => {});
await shim.kill('SIGTERM').catch(() => {});
let timer: NodeJS.Timeout | undefined;
const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
const first = await Promise.race([exited, timedOut]);
clearTimeout(timer);
if (first !== 'timeout') return first;
await shim.kill('SIGKILL').catch(() => {});
return exited;
