// wrong: no grace period: SIGTERM and SIGKILL back to back
// caught by: stopContainer
const exited = shim.wait();
exited.catch(() => {});
await shim.kill('SIGTERM').catch(() => {});
await shim.kill('SIGKILL').catch(() => {});
return exited;
