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
import { notImplemented } from '#lib/not-implemented.ts';

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
  throw notImplemented("01-bundle/rootfs", "create the folders, copy busybox into bin/, link every applet to it and write etc/passwd and etc/group");
  // END EXERCISE
}
