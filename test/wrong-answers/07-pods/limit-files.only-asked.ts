// wrong: only the limits asked for are written, so a pod started again keeps the limits it had
// caught by: limit-files
const files: LimitFile[] = [];
if (version === 'v2') {
  if (limits.memory !== undefined) files.push({ file: 'memory.max', value: String(limits.memory) });
  if (limits.cpus !== undefined) files.push({ file: 'cpu.max', value: `${Math.round(limits.cpus * CPU_PERIOD_US)} ${CPU_PERIOD_US}` });
  return files;
}
if (limits.memory !== undefined) files.push({ file: 'memory.limit_in_bytes', value: String(limits.memory) });
if (limits.cpus !== undefined) {
  files.push({ file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) });
  files.push({ file: 'cpu.cfs_quota_us', value: String(Math.round(limits.cpus * CPU_PERIOD_US)) });
}
return files;
