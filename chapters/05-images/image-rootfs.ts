/**
 * Images for chapter 04's Manager: its RootfsProvider hook (rootfs-provider.ts), as
 * containerd's task service asks the snapshotter for a container's mounts.
 *
 *   prepare   the image (pulled already: the CLI pulls first, with its progress, as docker's
 *             does) → an overlay of its snapshot, mounted in the container's folder:
 *             <root>/containers/<id>/{upper,work,rootfs}; and the process from its config
 *             (image-config.ts: Entrypoint + Cmd, a typed command replacing Cmd; Env, WorkingDir, User;
 *             StopSignal, the first signal of `stop`)
 *   restore   mount it again if it is gone (after a reboot); the container's writes are in upper
 *   release   unmount, remove upper/work; the image is free again (rmi refuses while it is used)
 */
import os from 'node:os';
import path from 'node:path';
import { badRequest, ManagerError } from '#lower/04-manager/errors.ts';
import type { RootfsProvider } from '#lower/04-manager/rootfs-provider.ts';
import { NoCommandError, processFromImage } from './image-config.ts';
import { ImageStore } from './images.ts';

/** The image store of a manager root: <root>/images (the one `conman pull` fills). */
export function imageStoreOf(root: string): ImageStore {
  return new ImageStore(path.join(root, 'images'));
}

/** An image's StopSignal as the shim takes it: "QUIT", "SIGQUIT" and "3" are all SIGQUIT's. */
function signalName(value: string): string {
  if (/^\d+$/.test(value)) {
    const found = Object.entries(os.constants.signals).find(([, number]) => String(number) === value);
    if (found) return found[0];
  }
  const name = value.toUpperCase().replace(/^(SIG)?/, 'SIG');
  if (Object.hasOwn(os.constants.signals, name)) return name;
  throw badRequest(`the image's StopSignal "${value}" is not a signal`);
}

export function imageRootfsProvider(root: string): RootfsProvider {
  const store = imageStoreOf(root);
  return {
    async prepare({ id, dir, image, args, entrypoint, env, cwd }) {
      const record = store.find(image);
      if (!record) throw new ManagerError(404, `no image "${image}" here: pull it first (conman pull ${image})`);
      const rootfs = await store.mountContainer(id, record, dir);
      try {
        const process = await processFromImage(await store.config(record), rootfs, { command: args, env, workdir: cwd, ...(entrypoint !== undefined ? { entrypoint } : {}) });
        const environment = Object.fromEntries(process.env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
        const user = process.user.uid === 0 && process.user.gid === 0 && !process.user.additionalGids ? undefined : process.user;
        const stopSignal = signalName(process.stopSignal);
        return { rootfs, image: store.displayName(record), args: process.args, env: environment, cwd: process.cwd, ...(user ? { user } : {}), ...(stopSignal !== 'SIGTERM' ? { stopSignal } : {}) };
      } catch (error) {
        await store.snapshots.removeContainer(id);
        if (error instanceof NoCommandError) throw badRequest(error.message);
        if (/^unable to find (user|group)/.test((error as Error).message)) throw badRequest((error as Error).message);
        throw error;
      }
    },
    async restore(id) {
      await store.snapshots.remountContainer(id);
    },
    async release(id) {
      await store.snapshots.removeContainer(id);
    },
  };
}
