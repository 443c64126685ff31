/**
 * conman, with images: chapter 04's command line plus pull, images, rmi, image inspect and
 * image prune (conman-cli.ts). The container commands are chapter 04's conman, run in this
 * process; a --no-daemon Manager gets the image store (with-images.ts).
 */
import { conmanWithImages } from './conman-cli.ts';

process.exit(await conmanWithImages(process.argv.slice(2), () => import('./with-images.ts')));
