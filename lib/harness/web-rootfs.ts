/**
 * A busybox rootfs with a page for busybox httpd to serve (/www/index.html), made once per
 * test file and shared by its checks (a rootfs directory: images work the same way, chapter 05).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HostRun } from '../host/hygiene.ts';
import { buildRootfs } from '#lower/01-bundle/rootfs.ts';

/** `sharedRootfs()` for a file: the first call builds <run dir>/rootfs serving `page`, later ones get the same. */
export function webRootfs(hostRun: () => HostRun, page: string): () => Promise<string> {
  let ready: Promise<string> | undefined;
  return () =>
    (ready ??= (async () => {
      const dir = path.join(hostRun().dir, 'rootfs');
      await buildRootfs(dir);
      fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'www', 'index.html'), page);
      return dir;
    })());
}
