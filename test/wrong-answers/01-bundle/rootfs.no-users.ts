// wrong: everything but etc/passwd and etc/group
// caught by: the rootfs
await fs.access(busybox);
for (const dir of ROOTFS_DIRS) await fs.mkdir(path.join(rootfsDir, dir), { recursive: true, mode: 0o755 });
await fs.chmod(path.join(rootfsDir, 'tmp'), 0o1777);
await fs.chmod(path.join(rootfsDir, 'var/tmp'), 0o1777);
const bin = path.join(rootfsDir, 'bin');
await fs.copyFile(busybox, path.join(bin, 'busybox'));
await fs.chmod(path.join(bin, 'busybox'), 0o755);
const { stdout } = await promisify(execFile)(busybox, ['--list']);
for (const applet of stdout.split('\n').filter((name) => name && name !== 'busybox')) {
  await fs.symlink('busybox', path.join(bin, applet)).catch(() => {});
}
