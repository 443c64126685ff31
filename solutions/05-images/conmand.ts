/**
 * conmand with images: chapter 04's daemon, its Manager given the image store of its root
 * (image-rootfs.ts), so that `conman run IMAGE` works through it. Same options as chapter 04's.
 */
import './with-images.ts';
import '#lower/04-manager/conmand.ts';
