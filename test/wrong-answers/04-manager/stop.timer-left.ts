// wrong: the grace period's timer is never cleared: after a quick exit it stays pending for the whole grace period (a --no-daemon `conman stop -t 60` waits the minute out)
// caught by: stopContainer
const exited = shim.wait();
exited.catch(() => {});
await shim.kill(signal).catch(() => {});
const timedOut = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs));
const first = await Promise.race([exited, timedOut]);
if (first !== 'timeout') return first;
await shim.kill('SIGKILL').catch(() => {});
return exited;
