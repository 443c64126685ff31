// wrong: asks for the exit first but leaves its promise unhandled while signalling: when the shim is gone, that rejection ends conmand
// caught by: stopContainer
const exited = shim.wait();
await shim.kill(signal).catch(() => {});
let timer: NodeJS.Timeout | undefined;
const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
const first = await Promise.race([exited, timedOut]);
clearTimeout(timer);
if (first !== 'timeout') return first;
await shim.kill('SIGKILL').catch(() => {});
return exited;
