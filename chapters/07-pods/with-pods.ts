/**
 * Imported first by chapter 07's conmand, and by its conman before a --no-daemon Manager opens:
 * gives chapter 04's Manager its images and networks (chapters 05, 06) and its pods (pods.ts),
 * and conmand its /pods endpoints (pod-api.ts).
 */
import '#lower/06-networking/with-network.ts';
import { registerPodProvider } from '#lower/04-manager/pod-provider.ts';
import './pod-api.ts';
import { Pods } from './pods.ts';

registerPodProvider((manager) => new Pods(manager));
