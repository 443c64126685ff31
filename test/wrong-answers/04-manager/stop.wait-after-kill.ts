// wrong: asks for the exit only after signalling, and a failed kill (the container already gone) is an error
// caught by: stopContainer
await shim.kill('SIGTERM');
let timer: NodeJS.Timeout | undefined;
const exited = shim.wait();
const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
const first = await Promise.race([exited, timedOut]);
clearTimeout(timer);
if (first !== 'timeout') return first;
await shim.kill('SIGKILL');
return exited;
