/**
 * Host hygiene: leaks are seen, and the leftovers of a crashed run (a running container, its
 * cgroups, a mount) are removed by the next run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { cgroupDirs } from '../../lib/host/cgroups.ts';
import { HostRun, removeStaleRuns, RUNS_DIR } from '../../lib/host/hygiene.ts';
import { mountsUnder } from '../../lib/host/mountinfo.ts';
import { writeTinyBundle } from '../../lib/host/tiny-bundle.ts';
import { requireRoot } from '../../lib/harness/require.ts';
import { CGROUP_PARENT } from '../../lib/paths.ts';

/** A pid that no process has: one that just exited. */
function deadPid(): number {
  return Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
}

test('a crashed run is found and removed: its running container, cgroups, mount and files', async () => {
  requireRoot();
  const run = new HostRun();
  const { id, bundle, cgroupsPath } = run.container('crashed');
  // A real detached container, made with runc's own sample config.
  writeTinyBundle(bundle, ['sleep', '300'], cgroupsPath);
  execFileSync('runc', ['--root', run.stateRoot('runc'), 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' });
  const scratch = path.join(run.dir, 'scratch');
  fs.mkdirSync(scratch);
  execFileSync('mount', ['-t', 'tmpfs', 'cmw-test', scratch]);

  const leaks = run.leaks();
  expect(leaks).toContain(`runc container ${id}`);
  expect(leaks).toContain(`mount ${scratch}`);
  expect(leaks.some((leak) => leak.startsWith('cgroup ') && leak.endsWith(id))).toBe(true);

  // The run "crashes": its owner is now a process that no longer exists.
  fs.writeFileSync(path.join(run.dir, 'owner.pid'), String(deadPid()));
  const removed = await removeStaleRuns();
  expect(removed).toContain(`runc container ${id}`);
  expect(fs.existsSync(path.join(RUNS_DIR, run.id))).toBe(false);
  expect(fs.existsSync(run.stateDir), 'the run-time state half, under /run').toBe(false);
  expect(mountsUnder(run.dir)).toEqual([]);
  expect(cgroupDirs(`${CGROUP_PARENT}/${run.id}`)).toEqual([]);
});

test('a live run is left alone', async () => {
  requireRoot();
  const run = new HostRun();
  await removeStaleRuns();
  expect(fs.existsSync(run.dir)).toBe(true);
  await run.cleanup();
  expect(fs.existsSync(run.dir)).toBe(false);
  expect(fs.existsSync(run.stateDir)).toBe(false);
});
