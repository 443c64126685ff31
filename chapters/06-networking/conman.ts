/**
 * conman, with images and networks: chapter 05's command line plus the network commands
 * (network-cli.ts). A --no-daemon Manager gets images and networks (with-network.ts).
 */
import { conmanWithNetworks } from './network-cli.ts';

process.exit(await conmanWithNetworks(process.argv.slice(2), () => import('./with-network.ts')));
