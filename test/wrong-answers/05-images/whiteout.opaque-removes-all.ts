// wrong: an opaque folder loses everything, the files this same layer added to it included
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
  for (const child of await fsp.readdir(folder).catch(() => [] as string[])) await fsp.rm(path.join(folder, child), { recursive: true, force: true });
  return;
}
await fsp.rm(path.join(folder, base.slice(WHITEOUT_PREFIX.length)), { recursive: true, force: true });
