/**
 * Imported first by chapter 06's conmand, and by its conman before a --no-daemon Manager opens:
 * gives chapter 04's Manager its images (chapter 05) and its networks (container-network.ts).
 */
import '#lower/05-images/with-images.ts';
import { registerNetworkProvider } from '#lower/04-manager/network-provider.ts';
import { containerNetworks } from './container-network.ts';

registerNetworkProvider(containerNetworks);
