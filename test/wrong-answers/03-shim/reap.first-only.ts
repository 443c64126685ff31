// wrong: reaps one zombie per call (one SIGCHLD may stand for several exits)
// caught by: reapZombies
const nodePids = new Set([...this.spawnedByNode].map((child) => child.pid));
for (const child of childrenOf(process.pid)) {
  if (child.state !== 'Z' || nodePids.has(child.pid)) continue;
  const raw = waitpidNoHang(child.pid);
  if (raw === undefined) continue;
  const status = decodeWaitStatus(raw);
  this.emit('exit', child.pid, status);
  return [{ pid: child.pid, status }];
}
return [];
