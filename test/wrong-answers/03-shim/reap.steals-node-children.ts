// wrong: reaps every zombie child, Node's own included (their 'exit' events never come)
// caught by: reapZombies
const reaped: { pid: number; status: DecodedStatus }[] = [];
for (const child of childrenOf(process.pid)) {
  if (child.state !== 'Z') continue;
  const raw = waitpidNoHang(child.pid);
  if (raw === undefined) continue;
  const status = decodeWaitStatus(raw);
  reaped.push({ pid: child.pid, status });
  this.emit('exit', child.pid, status);
}
return reaped;
