/**
 * conman, with pods: chapter 06's command line plus the pod commands (pod-cli.ts). A
 * --no-daemon Manager gets images, networks and pods (with-pods.ts).
 */
import { conmanWithPods } from './pod-cli.ts';

process.exit(await conmanWithPods(process.argv.slice(2), () => import('./with-pods.ts')));
