/**
 * The image store the CRI pulls into: chapter 05's, in the manager's root, with the registry
 * settings conmand was given in its environment, as `conman pull` reads them (a CRI client
 * has no --insecure-registry of its own): CONMAN_INSECURE_REGISTRIES=host:port,...,
 * CONMAN_REGISTRIES (chapter 05's hosts file, with mirrors) and REGISTRY_AUTH_FILE.
 */
import path from 'node:path';
import { ImageStore } from '#lower/05-images/images.ts';
import { registriesFile } from '#lower/05-images/conman-cli.ts';

export function imageStoreWithRegistries(root: string): ImageStore {
  return new ImageStore(path.join(root, 'images'), {
    ...registriesFile(process.env.CONMAN_REGISTRIES),
    insecureRegistries: process.env.CONMAN_INSECURE_REGISTRIES?.split(',').filter(Boolean) ?? [],
    authFile: process.env.REGISTRY_AUTH_FILE,
  });
}
