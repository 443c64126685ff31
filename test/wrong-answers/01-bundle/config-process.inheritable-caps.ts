// wrong: `runc spec` style terminal, and the capabilities in every set, inheritable and ambient too
// caught by: processSection
const user = options.user ?? { uid: 0, gid: 0 };
const capabilities = options.capabilities ?? DEFAULT_CAPABILITIES;
return {
  terminal: true,
  user,
  args: options.args,
  env: [`PATH=${DEFAULT_PATH}`, `HOME=${user.uid === 0 ? '/root' : '/home/learner'}`, ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)],
  cwd: options.cwd ?? '/',
  capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities, inheritable: capabilities, ambient: capabilities },
  rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
  noNewPrivileges: true,
};
