// wrong: the mounts without the options of `runc spec`: /dev world-writable (tmpfs defaults to 1777), /dev/shm and /dev/mqueue allow exec and devices
// caught by: isolationSection
const mounts: Mount[] = [
  { destination: '/proc', type: 'proc', source: 'proc' },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['newinstance', 'ptmxmode=0666'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm' },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue' },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] },
];
if (options.readonlyRoot) mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['mode=1777'] });
return {
  root: { path: 'rootfs', readonly: options.readonlyRoot ?? false },
  mounts,
  hostname: options.hostname ?? 'container',
  linux: { namespaces: (options.namespaces ?? DEFAULT_NAMESPACES).map((ns) => ({ ...ns })), cgroupsPath: options.cgroupsPath, maskedPaths: DEFAULT_MASKED_PATHS, readonlyPaths: DEFAULT_READONLY_PATHS },
};
