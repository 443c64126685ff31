/**
 * conmand with images, networks and pods: chapter 04's daemon, its Manager given the image
 * store (chapter 05), CNI networks (chapter 06) and pods (with-pods.ts). Same options as
 * chapter 04's.
 */
import './with-pods.ts';
import '#lower/04-manager/conmand.ts';
