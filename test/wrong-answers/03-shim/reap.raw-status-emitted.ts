// wrong: the 'exit' event carries the raw waitpid status, not the decoded one the returned list has
// caught by: reapZombies
const reaped: { pid: number; status: DecodedStatus }[] = [];
const nodePids = new Set([...this.spawnedByNode].map((child) => child.pid));
for (const child of childrenOf(process.pid)) {
  if (child.state !== 'Z' || nodePids.has(child.pid)) continue;
  const raw = waitpidNoHang(child.pid);
  if (raw === undefined) continue;
  const status = decodeWaitStatus(raw);
  reaped.push({ pid: child.pid, status });
  this.emit('exit', child.pid, raw);
}
return reaped;
