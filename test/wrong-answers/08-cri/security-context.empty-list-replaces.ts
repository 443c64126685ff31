// wrong: replaces the masked and read-only paths whenever the list is there, and over gRPC an absent list is []: every container with a security context gets /proc/kcore and the rest unmasked
// caught by: securityEditor
// First the checks: a Localhost seccomp profile, a group without a user, an id that is not
// one (idOf), a capability the kernel does not have (ALL is allowed).
if (security.seccomp?.profile_type === 'Localhost') throw grpcError(Status.INVALID_ARGUMENT, 'seccomp: Localhost profiles are not supported by conman (RuntimeDefault and Unconfined are)');
if (security.run_as_group && !security.run_as_user && !security.run_as_username) throw grpcError(Status.INVALID_ARGUMENT, 'run_as_group is given without run_as_user or run_as_username: a group needs a user');
const uid = security.run_as_user ? idOf('run_as_user', security.run_as_user.value) : undefined;
const gid = security.run_as_group ? idOf('run_as_group', security.run_as_group.value) : undefined;
const groups = (security.supplemental_groups ?? []).map((group) => idOf('supplemental_groups', group));
const drop = (security.capabilities?.drop_capabilities ?? []).map(capabilityName);
const add = (security.capabilities?.add_capabilities ?? []).map(capabilityName);
for (const name of [...drop, ...add]) {
  if (name !== 'CAP_ALL' && !ALL_CAPABILITIES.includes(name)) throw grpcError(Status.INVALID_ARGUMENT, `capability ${name} is not one the kernel has`);
}
// Then the edit, which cannot fail.
return (spec) => {
  if (uid !== undefined) spec.process.user.uid = uid;
  if (gid !== undefined) spec.process.user.gid = gid;
  if (groups.length > 0) spec.process.user.additionalGids = groups;
  if (security.readonly_rootfs) spec.root.readonly = true;
  spec.process.noNewPrivileges = security.no_new_privs === true;
  let capabilities: string[];
  if (security.privileged) {
    capabilities = [...ALL_CAPABILITIES];
  } else {
    // Drop first, then add: "drop ALL, add NET_BIND_SERVICE" is the least a server needs.
    capabilities = drop.includes('CAP_ALL') ? [] : (spec.process.capabilities?.bounding ?? DEFAULT_CAPABILITIES).filter((name) => !drop.includes(name));
    capabilities = [...new Set([...capabilities, ...(add.includes('CAP_ALL') ? ALL_CAPABILITIES : add)])];
  }
  spec.process.capabilities = { bounding: capabilities, effective: capabilities, permitted: capabilities };
  if (security.privileged) {
    spec.linux.maskedPaths = [];
    spec.linux.readonlyPaths = [];
  } else {
    if (security.masked_paths) spec.linux.maskedPaths = security.masked_paths;
    if (security.readonly_paths) spec.linux.readonlyPaths = security.readonly_paths;
  }
};
