/**
 * The stack, layer by layer, on a machine whose /run is `noexec` (as on every Debian 12 that
 * boots with an initramfs). noexec.test.ts runs this program in a private mount namespace
 * where /run has been remounted noexec, and reads the JSON it prints.
 *
 * Argument: JSON { dir, stateDir, cgroupParent } of the test's HostRun (files under /var/lib,
 * state under /run). Each step records what it saw; a step that throws records its message.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createBundle } from '../../solutions/01-bundle/bundle.ts';
import { buildRootfs } from '../../solutions/01-bundle/rootfs.ts';
import { runContainer } from '../../solutions/01-bundle/run.ts';
import { ShimClient, startShim } from '../../solutions/03-shim/client.ts';
import { execFolderChecks } from '../../lib/doctor.ts';
import { isNoexec } from '../../lib/host/mountinfo.ts';
import { REPO_ROOT } from '../../lib/paths.ts';

const { dir, stateDir, cgroupParent } = JSON.parse(process.argv[2]) as { dir: string; stateDir: string; cgroupParent: string };
const results: Record<string, unknown> = { runIsNoexec: isNoexec(stateDir), libIsNoexec: isNoexec(dir) };

async function step(name: string, body: () => Promise<unknown>): Promise<void> {
  try {
    results[name] = await body();
  } catch (error) {
    results[name] = { error: (error as Error).message };
  }
}

// The control: a rootfs under /run cannot run here. Without it, the rest would prove nothing.
await step('rootfsUnderRun', async () => {
  const bundle = path.join(stateDir, 'control');
  await createBundle(bundle, { args: ['echo', 'ran'], cgroupsPath: `${cgroupParent}/control` });
  return runContainer(bundle, { id: `${path.basename(dir)}-control`, stateRoot: path.join(stateDir, 'runc') });
});

// Chapter 01: a bundle under /var/lib, runc's state under /run.
await step('chapter01', async () => {
  const bundle = path.join(dir, 'b01');
  await createBundle(bundle, { args: ['echo', 'hello from a noexec /run machine'], cgroupsPath: `${cgroupParent}/b01` });
  return runContainer(bundle, { id: `${path.basename(dir)}-b01`, stateRoot: path.join(stateDir, 'runc') });
});

// Chapter 03: the shim's folder (sockets, exit file, log) under /run.
await step('chapter03', async () => {
  const bundle = path.join(dir, 'b03');
  const id = `${path.basename(dir)}-b03`;
  await createBundle(bundle, { args: ['sh', '-c', 'exit 7'], cgroupsPath: `${cgroupParent}/b03` });
  const shimDir = path.join(stateDir, 'shims', 'b03');
  await startShim({ id, bundle, dir: shimDir, stateRoot: path.join(stateDir, 'runc') });
  const client = new ShimClient(shimDir);
  const exit = await client.wait();
  await client.delete();
  return exit;
});

// Chapter 04: conman with its default split: root (records, rootfs) under /var/lib, run-root under /run.
await step('chapter04', async () => {
  const rootfs = path.join(dir, 'rootfs04');
  await buildRootfs(rootfs);
  const env = { ...process.env, CONMAN_ROOT: path.join(dir, 'conman'), CONMAN_RUN_ROOT: path.join(stateDir, 'conman'), CONMAN_CGROUP_PARENT: cgroupParent };
  const conman = [path.join(REPO_ROOT, 'lib/launch.mjs'), path.join(REPO_ROOT, 'solutions/04-manager/conman.ts')];
  const { stdout } = await promisify(execFile)(process.execPath, [...conman, '--no-daemon', 'run', '--rm', rootfs, 'echo', 'conman ran'], { env });
  return { stdout };
});

// doctor: the workshop's folders pass; a folder under this /run is named, with the fix.
await step('doctor', async () => ({ lib: execFolderChecks([dir]), run: execFolderChecks([stateDir]) }));

console.log(JSON.stringify(results));
