/**
 * An OCI bundle is a folder with two things in it: `config.json` and the root filesystem it
 * names (here `rootfs/`). It is the whole contract between a container manager and a runtime
 * such as runc or crun: the manager prepares the folder, the runtime makes it a container.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Spec } from '#lib/oci-spec.ts';
import { generateConfig, type ContainerOptions } from './config.ts';
import { buildRootfs, type RootfsOptions } from './rootfs.ts';
import { validateSpec } from './validate.ts';

/** Write `spec` as the bundle's config.json, after checking it; returns the file's path. */
export async function writeConfig(bundleDir: string, spec: Spec): Promise<string> {
  validateSpec(spec, bundleDir);
  const file = path.join(bundleDir, 'config.json');
  await fs.writeFile(file, JSON.stringify(spec, null, 2) + '\n');
  return file;
}

/**
 * Make a complete bundle in `bundleDir`: a busybox rootfs and a config.json for `options`.
 * On any error (an invalid spec included) the folder is removed again if this call created it.
 */
export async function createBundle(
  bundleDir: string,
  options: ContainerOptions,
  rootfs: RootfsOptions = {},
): Promise<Spec> {
  const created = await fs.mkdir(bundleDir, { recursive: true, mode: 0o700 });
  try {
    await buildRootfs(path.join(bundleDir, 'rootfs'), rootfs);
    const spec = generateConfig(options);
    await writeConfig(bundleDir, spec);
    return spec;
  } catch (error) {
    // Leave nothing half-built behind: remove the folder if this call made it.
    if (created) await fs.rm(bundleDir, { recursive: true, force: true });
    throw error;
  }
}
