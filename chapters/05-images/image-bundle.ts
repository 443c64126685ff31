/**
 * From an image to an OCI bundle (chapter 01's contract with the runtime): the rootfs is the
 * image's overlay snapshot for this container, the process comes from the image config and
 * what the user typed, the rest (namespaces, mounts, limits) from chapter 01's generator.
 */
import fs from 'node:fs/promises';
import type { Spec } from '#lib/oci-spec.ts';
import { writeConfig } from '#lower/01-bundle/bundle.ts';
import { generateConfig, type ContainerOptions } from '#lower/01-bundle/config.ts';
import { processFromImage, type ImageProcess, type RunOverrides } from './image-config.ts';
import type { ImageRecord, ImageStore } from './images.ts';

export interface ImageBundle {
  spec: Spec;
  rootfs: string;
  process: ImageProcess;
  /** Unmount the rootfs and remove the container's writes (after the runtime deleted the container). */
  remove(): Promise<void>;
}

/**
 * Make `bundleDir` for container `id` from `record`: mount its snapshot, resolve the process
 * (user names through the image's own /etc/passwd), write config.json with root.path pointing
 * at the mounted rootfs. `options` are chapter 01's (cgroupsPath, limits, hostname...).
 */
export async function createImageBundle(
  store: ImageStore,
  record: ImageRecord,
  bundleDir: string,
  id: string,
  overrides: RunOverrides = {},
  options: Omit<ContainerOptions, 'args' | 'env' | 'cwd' | 'user'> = {},
): Promise<ImageBundle> {
  await fs.mkdir(bundleDir, { recursive: true, mode: 0o700 });
  const rootfs = await store.mountContainer(id, record);
  const remove = () => store.snapshots.removeContainer(id);
  try {
    const process = await processFromImage(await store.config(record), rootfs, overrides);
    const spec = generateConfig({ ...options, args: process.args, cwd: process.cwd, user: { uid: process.user.uid, gid: process.user.gid } });
    spec.process!.env = process.env;
    if (process.user.additionalGids) spec.process!.user.additionalGids = process.user.additionalGids;
    spec.root = { path: rootfs, readonly: Boolean(options.readonlyRoot) };
    await writeConfig(bundleDir, spec);
    return { spec, rootfs, process, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
