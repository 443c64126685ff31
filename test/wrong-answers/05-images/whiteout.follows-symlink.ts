// wrong: the whited-out name is resolved all the way, so a whiteout of a symlink deletes what it points at (in the image) and leaves the link
// caught by: whiteout: ".wh.NAME"
this.stats.whiteouts++;
const dir = path.posix.dirname(relative);
let folder: string;
try {
  folder = await resolveInRoot(this.target, dir, { followLast: true });
} catch (error) {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
  throw error;
}
const base = path.posix.basename(relative);
if (base === OPAQUE_WHITEOUT) {
  const stat = await fsp.lstat(folder).catch(() => undefined);
  if (!stat?.isDirectory()) return;
  for (const child of await fsp.readdir(folder)) {
    if (this.fromThisLayer.has(path.posix.join(dir, child))) continue;
    await fsp.rm(path.join(folder, child), { recursive: true, force: true });
  }
  return;
}
const name = base.slice(WHITEOUT_PREFIX.length);
if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new UnsafeLayerError(`whiteout "${relative}" names no file`);
await fsp.rm(await resolveInRoot(this.target, path.posix.join(dir, name), { followLast: true }), { recursive: true, force: true });
