// wrong: the name is joined to the root and the kernel follows the symlinks: on the host
// caught by: resolveInRoot
const full = path.join(root, relative);
if (options.createParents) await fsp.mkdir(path.dirname(full), { recursive: true, mode: 0o755 });
return full;
