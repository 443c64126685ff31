/**
 * The root filesystem: the directory a container sees as "/".
 *
 * A container image is mostly this directory, packed as tar layers (chapter 05). Here we make
 * the smallest useful one by hand: a statically linked busybox, which is one binary that
 * behaves as `sh`, `ls`, `id`, `hostname`... depending on the name it is started under.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/** Debian's busybox-static package installs it here. */
export const HOST_BUSYBOX = '/bin/busybox';

/** Folders a Linux program expects to find; the mount points must exist for runc to mount on. */
export const ROOTFS_DIRS = ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'root', 'home/learner', 'mnt', 'var/tmp'];

export interface RootfsOptions {
  /** The busybox binary to copy; it must be statically linked (no libc in the rootfs). */
  busybox?: string;
}

/**
 * Fill `rootfsDir` with a busybox userland:
 * - the folders in ROOTFS_DIRS (mode 0755; /tmp and /var/tmp 1777 like on any Linux),
 * - bin/busybox (a copy of the host's static busybox, mode 0755),
 * - one symlink bin/<applet> -> busybox for each applet busybox lists with `--list`,
 * - etc/passwd and etc/group with root (0) and learner (1000), so `id` prints names.
 */
export async function buildRootfs(rootfsDir: string, options: RootfsOptions = {}): Promise<void> {
  const busybox = options.busybox ?? HOST_BUSYBOX;
  // EXERCISE(rootfs): create the folders, copy busybox into bin/, link every applet to it and write etc/passwd and etc/group
  // Hints: `busybox --list` prints one applet name per line; a symlink target can be
  // relative ("busybox") so the link works inside the container. fs.mkdir creates
  // folders with the process umask applied: chmod /tmp explicitly.
  await fs.access(busybox).catch(() => {
    throw new Error(`busybox not found at ${busybox}: install it with "apt-get install busybox-static"`);
  });
  for (const dir of ROOTFS_DIRS) {
    await fs.mkdir(path.join(rootfsDir, dir), { recursive: true, mode: 0o755 });
  }
  await fs.chmod(path.join(rootfsDir, 'tmp'), 0o1777);
  await fs.chmod(path.join(rootfsDir, 'var/tmp'), 0o1777);
  await fs.chown(path.join(rootfsDir, 'home/learner'), 1000, 1000);

  const bin = path.join(rootfsDir, 'bin');
  await fs.copyFile(busybox, path.join(bin, 'busybox'));
  await fs.chmod(path.join(bin, 'busybox'), 0o755);
  const { stdout } = await promisify(execFile)(busybox, ['--list']);
  for (const applet of stdout.split('\n').filter((name) => name && name !== 'busybox')) {
    await fs.symlink('busybox', path.join(bin, applet)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }

  await fs.writeFile(
    path.join(rootfsDir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nlearner:x:1000:1000:learner:/home/learner:/bin/sh\n',
  );
  await fs.writeFile(path.join(rootfsDir, 'etc/group'), 'root:x:0:\nlearner:x:1000:\n');
  // END EXERCISE
}
