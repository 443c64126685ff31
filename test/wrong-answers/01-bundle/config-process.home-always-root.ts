// wrong: HOME is /root for every user, and the options' env comes before PATH
// caught by: processSection
const user = options.user ?? { uid: 0, gid: 0 };
const capabilities = options.capabilities ?? DEFAULT_CAPABILITIES;
return {
  terminal: false,
  user,
  args: options.args,
  env: [...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`), `PATH=${DEFAULT_PATH}`, 'HOME=/root'],
  cwd: options.cwd ?? '/',
  capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities, inheritable: [], ambient: [] },
  rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
  noNewPrivileges: true,
};
