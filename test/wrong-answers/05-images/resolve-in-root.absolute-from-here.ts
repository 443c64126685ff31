// wrong: an absolute symlink's target is walked from the folder the link sits in, not from the image's root (a/b/abs -> /usr/lib lands in a/b/usr/lib)
// caught by: resolveInRoot
const pending = relative.split('/').filter((part) => part !== '' && part !== '.');
const resolved: string[] = [];
let links = 0;
while (pending.length > 0) {
  const part = pending.shift()!;
  if (part === '..') {
    resolved.pop();
    continue;
  }
  const isLast = pending.length === 0;
  const candidate = path.join(root, ...resolved, part);
  let stat: fs.Stats | undefined;
  try {
    stat = await fsp.lstat(candidate);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (stat?.isSymbolicLink() && (!isLast || options.followLast)) {
    if (++links > MAX_SYMLINKS) throw new UnsafeLayerError(`${relative}: too many levels of symbolic links`);
    const target = await fsp.readlink(candidate);
    pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
    continue;
  }
  if (!isLast) {
    if (!stat) {
      if (!options.createParents) throw Object.assign(new Error(`${relative}: ${path.join(...resolved, part)} does not exist`), { code: 'ENOENT' });
      await fsp.mkdir(candidate, { mode: 0o755 });
      await fsp.chmod(candidate, 0o755);
    } else if (!stat.isDirectory()) {
      throw new UnsafeLayerError(`${relative}: ${path.join(...resolved, part)} is not a directory`);
    }
  }
  resolved.push(part);
}
return path.join(root, ...resolved);
