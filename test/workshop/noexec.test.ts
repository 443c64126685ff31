/**
 * The stack works on a machine whose /run is mounted `noexec`, as on every Debian 12 that boots
 * with an initramfs (the workshop VM included): there, a rootfs under /run fails with
 * `exec /bin/sh: permission denied`. This machine may not boot that way, so the check makes
 * such a /run itself, in a private mount namespace (`unshare --mount`), and runs chapter 01's
 * runContainer, chapter 03's shim and chapter 04's conman inside it (noexec-stack.ts).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { useHostRun } from '../../lib/harness/host-run.ts';
import { REPO_ROOT } from '../../lib/paths.ts';
import { scaled } from '../../lib/slow.ts';

const hostRun = useHostRun();

test('with /run mounted noexec, containers still run: rootfs and bundles live under /var/lib', async () => {
  const run = hostRun();
  const args = JSON.stringify({ dir: run.dir, stateDir: run.stateDir, cgroupParent: run.cgroupParent });
  // A private mount namespace: the remount is seen by this program only, never by the host.
  const script = 'mountpoint -q /run || mount --bind /run /run; mount -o remount,bind,noexec /run && exec "$@"';
  const program = [process.execPath, '--import', 'tsx', path.join(REPO_ROOT, 'test/workshop/noexec-stack.ts'), args];
  const { stdout } = await promisify(execFile)('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...program], {
    cwd: REPO_ROOT,
    timeout: scaled(90_000),
  });
  const results = JSON.parse(stdout.trim().split('\n').at(-1)!);

  expect(results.runIsNoexec, '/run is noexec inside the namespace').toBe(true);
  expect(results.libIsNoexec, '/var/lib allows exec').toBe(false);
  // The control: a rootfs under the noexec /run really cannot run, so the rest proves something.
  expect(JSON.stringify(results.rootfsUnderRun), 'a container whose rootfs is under the noexec /run').toMatch(/permission denied/);
  expect(results.rootfsUnderRun.error, 'the error names the noexec mount').toMatch(/the rootfs is on \/run, mounted noexec/);

  expect(results.chapter01, 'chapter 01: runContainer with runc state under /run').toMatchObject({ exitCode: 0, stdout: 'hello from a noexec /run machine' });
  expect(results.chapter03, 'chapter 03: a shim whose folder is under /run').toMatchObject({ exitCode: 7 });
  expect(results.chapter04, 'chapter 04: conman run --rm with --run-root under /run').toEqual({ stdout: 'conman ran\n' });

  const [libCheck] = results.doctor.lib;
  const [runCheck] = results.doctor.run;
  expect(libCheck.ok, `doctor on ${run.dir}: ${libCheck.detail}`).toBe(true);
  expect(runCheck.ok, 'doctor names a folder on a noexec mount').toBe(false);
  expect(runCheck.detail).toContain('noexec');
  expect(runCheck.fix).toMatch(/mount -o remount,exec \//);
}, scaled(120_000));
