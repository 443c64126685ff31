/**
 * conman of chapter 08: chapter 07's (images, networks, pods). The CRI is conmand's
 * (conmand.ts, --cri-socket); conman talks to conmand's own API, as before.
 */
import '#lower/07-pods/conman.ts';
