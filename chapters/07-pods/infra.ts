/**
 * The infra container: the pod's first container, whose only job is to exist. It makes the
 * pod's namespaces (network, IPC, UTS, and PID when shared); every other container of the pod
 * joins them by path (/proc/<infra PID>/ns/...). Why a container and not just the first app
 * container? App containers crash, restart and get replaced; the pod's address, hostname and
 * shared memory must not change when they do. So something that never exits holds them.
 *
 * Its process is catatonit (Debian's package; podman's pause process) in pause mode (-P): it
 * does nothing, uses about 100 KiB, and exits on SIGTERM. As PID 1 of a shared PID namespace
 * it also reaps the pod's orphans. Kubernetes' pause image is the same idea
 * (registry.k8s.io/pause: a few lines of C).
 *
 * Its rootfs holds catatonit alone (Debian's is statically linked: it needs no libraries) and
 * the mount points. It is made once per manager root and shared by every pod: nothing in it
 * is ever written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { conflict } from '#lower/04-manager/errors.ts';

/** Where Debian's catatonit package puts it. */
export const CATATONIT = '/usr/bin/catatonit';
export const INFRA_COMMAND = ['/catatonit', '-P'];

/** The infra rootfs of a manager root: <root>/pods/infra-rootfs, made on first use. */
export async function ensureInfraRootfs(root: string): Promise<string> {
  const rootfs = path.join(root, 'pods', 'infra-rootfs');
  if (fs.existsSync(path.join(rootfs, 'catatonit'))) return rootfs;
  if (!fs.existsSync(CATATONIT)) throw conflict(`a pod's infra container runs catatonit, and ${CATATONIT} is missing: apt-get install catatonit (vagrant/provision.sh installs it)`);
  // Built aside and renamed into place: two pods created at once, or a crash half-way, never
  // leave a half-made rootfs where the next pod would find it.
  fs.mkdirSync(path.dirname(rootfs), { recursive: true, mode: 0o700 });
  const building = fs.mkdtempSync(`${rootfs}.tmp-`);
  try {
    // The mount points runc and the network's /etc files need, made once here rather than by
    // runc in a rootfs that several pods start from at once.
    for (const dir of ['proc', 'dev', 'sys', 'etc', 'tmp']) fs.mkdirSync(path.join(building, dir), { mode: 0o755 });
    for (const file of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf']) fs.writeFileSync(path.join(building, file), '', { mode: 0o644 });
    fs.copyFileSync(CATATONIT, path.join(building, 'catatonit'));
    fs.chmodSync(path.join(building, 'catatonit'), 0o755);
    fs.chmodSync(building, 0o755);
    fs.renameSync(building, rootfs);
  } catch (error) {
    fs.rmSync(building, { recursive: true, force: true });
    // Another pod made it first: theirs is as good.
    if (fs.existsSync(path.join(rootfs, 'catatonit'))) return rootfs;
    throw error;
  }
  return rootfs;
}
