// wrong: applet links point at the host path of busybox, which does not exist inside the container; /tmp keeps the umask's 1755
// caught by: the rootfs
await fs.access(busybox);
for (const dir of ROOTFS_DIRS) await fs.mkdir(path.join(rootfsDir, dir), { recursive: true, mode: 0o1777 });
await fs.chown(path.join(rootfsDir, 'home/learner'), 1000, 1000);
const bin = path.join(rootfsDir, 'bin');
await fs.copyFile(busybox, path.join(bin, 'busybox'));
await fs.chmod(path.join(bin, 'busybox'), 0o755);
const { stdout } = await promisify(execFile)(busybox, ['--list']);
for (const applet of stdout.split('\n').filter((name) => name && name !== 'busybox')) {
  await fs.symlink(path.join(bin, 'busybox'), path.join(bin, applet)).catch(() => {});
}
await fs.writeFile(path.join(rootfsDir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nlearner:x:1000:1000:learner:/home/learner:/bin/sh\n');
await fs.writeFile(path.join(rootfsDir, 'etc/group'), 'root:x:0:\nlearner:x:1000:\n');
