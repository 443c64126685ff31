// wrong: does not accept an applet link that already exists: building the rootfs again (main.ts reuses a bundle folder) fails with EEXIST
// caught by: the rootfs
await fs.access(busybox);
for (const dir of ROOTFS_DIRS) await fs.mkdir(path.join(rootfsDir, dir), { recursive: true, mode: 0o755 });
await fs.chmod(path.join(rootfsDir, 'tmp'), 0o1777);
await fs.chmod(path.join(rootfsDir, 'var/tmp'), 0o1777);
await fs.chown(path.join(rootfsDir, 'home/learner'), 1000, 1000);
const bin = path.join(rootfsDir, 'bin');
await fs.copyFile(busybox, path.join(bin, 'busybox'));
await fs.chmod(path.join(bin, 'busybox'), 0o755);
const { stdout } = await promisify(execFile)(busybox, ['--list']);
for (const applet of stdout.split('\n').filter((name) => name && name !== 'busybox')) await fs.symlink('busybox', path.join(bin, applet));
await fs.writeFile(path.join(rootfsDir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nlearner:x:1000:1000:learner:/home/learner:/bin/sh\n');
await fs.writeFile(path.join(rootfsDir, 'etc/group'), 'root:x:0:\nlearner:x:1000:\n');
