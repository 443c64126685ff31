/**
 * Imported first by chapter 05's conmand, and by its conman before a --no-daemon Manager opens:
 * gives chapter 04's Manager its images (image-rootfs.ts) through the RootfsProvider hook.
 */
import { registerRootfsProvider } from '#lower/04-manager/rootfs-provider.ts';
import { imageRootfsProvider } from './image-rootfs.ts';

registerRootfsProvider(imageRootfsProvider);
