// wrong: the quota in milliseconds (cpus × 1000), not in microseconds of the 100000 µs period
// caught by: limit-files
const quota = limits.cpus === undefined ? undefined : String(Math.round(limits.cpus * 1000));
if (version === 'v2') {
  return [
    { file: 'memory.max', value: limits.memory === undefined ? 'max' : String(limits.memory) },
    { file: 'cpu.max', value: `${quota ?? 'max'} ${CPU_PERIOD_US}` },
  ];
}
return [
  { file: 'memory.limit_in_bytes', value: limits.memory === undefined ? '-1' : String(limits.memory) },
  { file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) },
  { file: 'cpu.cfs_quota_us', value: quota ?? '-1' },
];
