/**
 * The container commands of chapter 05's conman (run, ps, rm...): chapter 04's conman, its
 * --no-daemon Manager given the image store (image-rootfs.ts). conman.ts pulls a missing
 * image first, then hands the command line here.
 */
import './with-images.ts';
import '#lower/04-manager/conman.ts';
