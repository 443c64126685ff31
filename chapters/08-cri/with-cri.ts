/**
 * Imported first by chapter 08's conmand: chapter 07's stack (images, networks, pods), and a
 * CRI endpoint beside conmand's own API, on --cri-socket PATH (default RUN_ROOT/cri.sock).
 */
import path from 'node:path';
import '#lower/07-pods/with-pods.ts';
import { registerDaemonService } from '#lower/04-manager/daemon-services.ts';
import { serveCri } from './cri-server.ts';

registerDaemonService({
  name: 'CRI',
  options: { 'cri-socket': { type: 'string' } },
  usage: '[--cri-socket PATH]',
  async start(manager, { root, runRoot, options }) {
    const socket = path.resolve((options['cri-socket'] as string | undefined) ?? process.env.CONMAN_CRI_SOCKET ?? path.join(runRoot, 'cri.sock'));
    const server = await serveCri(manager, { root, socket });
    return { where: server.socket, close: () => server.close() };
  },
});
