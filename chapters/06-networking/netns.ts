/**
 * A network namespace that outlives its processes: a file the namespace is bind-mounted on.
 * A namespace lives while a process is in it or a mount holds it; the bind mount is what lets
 * conman create the namespace before the container exists, hand its path to the CNI plugins
 * (CNI_NETNS) and to the runtime (linux.namespaces[].path: runc joins it with setns), and keep
 * it across restarts of the container. `ip netns add` does the same under /run/netns.
 *
 * Node cannot call unshare(2) for one thread, so the namespace is made by util-linux's
 * `unshare --net=FILE true`: it unshares, bind-mounts /proc/self/ns/net on FILE, and exits;
 * the mount keeps the namespace. (containerd does this from a locked Go thread; cri-o has a
 * small C helper, pinns.) Removing it is unmounting the file and deleting it: once no
 * container is left inside, the kernel frees the namespace and the veth in it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { readMounts } from '#lib/host/mountinfo.ts';
import { scaled } from '#lib/slow.ts';

const run = promisify(execFile);

function isMounted(file: string): boolean {
  return readMounts().some((mount) => mount.mountPoint === file);
}

/** Make the namespace file `file` (its folder is made too); an existing one is kept as it is. */
export async function createNetns(file: string): Promise<void> {
  if (isMounted(file)) return;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, '', { mode: 0o444 });
  try {
    await run('unshare', [`--net=${file}`, 'true'], { timeout: scaled(10_000) });
  } catch (error) {
    fs.rmSync(file, { force: true });
    const said = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new Error(`making the network namespace ${file} failed: ${said} (unshare is in util-linux; conman must run as root)`);
  }
}

/** Unmount and delete the namespace file; nothing there is fine. */
export async function removeNetns(file: string): Promise<void> {
  if (isMounted(file)) {
    try {
      await run('umount', [file], { timeout: scaled(10_000) });
    } catch {
      await run('umount', ['-l', file], { timeout: scaled(10_000) }); // busy: detach it now, the kernel frees it when it can
    }
  }
  fs.rmSync(file, { force: true });
}
