/**
 * A busybox image in a test registry, made by real tools: chapter 01's rootfs packed into an
 * OCI layout by umoci, pushed by skopeo in each format asked (OCI, or Docker's schema 2).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { scaled } from '../slow.ts';
import { buildRootfs } from '#lower/01-bundle/rootfs.ts';

const exec = promisify(execFile);

/** `work`: a scratch folder; `configArgs`: umoci config options (--config.cmd sh ...); pushes registryHost/TAG for each [format, TAG]; `creds`: "user:password" for a registry that wants them. */
export async function pushBusyboxImage(work: string, registryHost: string, tags: ['oci' | 'v2s2', string][], configArgs: string[], creds?: string): Promise<void> {
  fs.mkdirSync(work, { recursive: true });
  const layout = `${work}/layout:busybox`;
  await exec('umoci', ['init', '--layout', `${work}/layout`]);
  await exec('umoci', ['new', '--image', layout]);
  await exec('umoci', ['unpack', '--image', layout, `${work}/bundle`]);
  await buildRootfs(path.join(work, 'bundle/rootfs'));
  await exec('umoci', ['repack', '--image', layout, `${work}/bundle`]);
  await exec('umoci', ['config', '--image', layout, ...configArgs]);
  fs.rmSync(`${work}/bundle`, { recursive: true, force: true });
  for (const [format, tag] of tags) {
    await exec('skopeo', ['copy', '--quiet', '--format', format, `oci:${layout}`, `docker://${registryHost}/${tag}`, '--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : [])], { timeout: scaled(60_000) });
  }
}
