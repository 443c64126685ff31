/**
 * conman, with images: chapter 04's command line plus pull, images, rmi, image inspect and
 * image prune (conman-cli.ts); the container commands run chapter 04's conman with the image
 * store (containers.ts).
 */
import { fileURLToPath } from 'node:url';
import { conmanWithImages } from './conman-cli.ts';

// (import.meta.url: this source file, also in the bundle)
process.exit(await conmanWithImages(process.argv.slice(2), fileURLToPath(new URL('./containers.ts', import.meta.url))));
