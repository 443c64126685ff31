/**
 * Host hygiene: leaks are seen, and the leftovers of a crashed run (a running container, its
 * cgroups, a mount, a network's lease, rules and bridge) are removed by the next run.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { cgroupDirs } from '../../lib/host/cgroups.ts';
import { HostRun, removeOrphanRuntimeLogs, removeRun, removeStaleRuns, RUN_STATE_DIR, RUNS_DIR } from '../../lib/host/hygiene.ts';
import { mountsUnder } from '../../lib/host/mountinfo.ts';
import { IPAM_DIR } from '../../lib/host/networks.ts';
import { killTree, processTree } from '../../lib/host/processes.ts';
import { eventually } from '../../lib/harness/eventually.ts';
import { writeTinyBundle } from '../../lib/host/tiny-bundle.ts';
import { requireRoot } from '../../lib/harness/require.ts';
import { CGROUP_PARENT, WORKSHOP_PREFIX } from '../../lib/paths.ts';

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

test('the runtime log of a process killed mid-call is removed; a live process\'s is not', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cmw-logs-'));
  const dead = path.join(dir, `runc-log-${deadPid()}-k3x9.json`);
  const live = path.join(dir, `crun-log-${process.pid}-a1b2.json`);
  const reused = path.join(dir, `runc-log-${process.pid}-old1.json`); // a live pid, but two hours old: the pid was reused
  const other = path.join(dir, 'runc-log-notes.json');
  for (const file of [dead, live, reused, other]) fs.writeFileSync(file, '');
  const twoHoursAgo = new Date(Date.now() - 7_200_000);
  fs.utimesSync(reused, twoHoursAgo, twoHoursAgo);
  expect(removeOrphanRuntimeLogs(dir).sort()).toEqual([`runtime log ${dead}`, `runtime log ${reused}`].sort());
  expect([dead, live, reused, other].map((file) => fs.existsSync(file))).toEqual([false, true, false, true]);
  fs.rmSync(dir, { recursive: true, force: true });
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

test('a crashed run\'s network is found and removed: its lease, iptables rules, bridge and namespace file', async () => {
  requireRoot();
  const run = new HostRun();
  const network = run.network('crashed');
  // A namespace file and a real ADD of bridge + portmap, by the plugins themselves (no chapter code).
  const netns = path.join(run.stateDir, 'netns', 'crashed');
  fs.mkdirSync(path.dirname(netns), { recursive: true });
  fs.writeFileSync(netns, '');
  execFileSync('unshare', [`--net=${netns}`, 'true']);
  const dnChains = () => new Set(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).match(/^:CNI-DN-\w+/gm) ?? []);
  const chainsBefore = dnChains();
  const env = { ...process.env, CNI_CONTAINERID: `${run.id}-crashed`, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };
  const bridge = { cniVersion: '1.0.0', name: network.name, type: 'bridge', bridge: network.bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: network.subnet }]] } };
  const result = execFileSync('/usr/lib/cni/bridge', { input: JSON.stringify(bridge), env: { ...env, CNI_COMMAND: 'ADD' } });
  const portmap = { cniVersion: '1.0.0', name: network.name, type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 18_999, containerPort: 80, protocol: 'tcp' }] }, prevResult: JSON.parse(result.toString()) };
  execFileSync('/usr/lib/cni/portmap', { input: JSON.stringify(portmap), env: { ...env, CNI_COMMAND: 'ADD' } });

  const leaks = run.leaks();
  expect(leaks.some((leak) => leak.startsWith(`IP lease `) && leak.endsWith(network.name)), leaks.join('\n')).toBe(true);
  expect(leaks.some((leak) => leak.startsWith('iptables -t nat') && leak.includes('18999')), leaks.join('\n')).toBe(true);
  expect(leaks).toContain(`mount ${netns}`);

  fs.writeFileSync(path.join(run.dir, 'owner.pid'), String(deadPid()));
  await removeStaleRuns();
  const rules = execFileSync('iptables-save', { encoding: 'utf8' });
  expect(rules, 'no rule names the network').not.toContain(network.name);
  expect(rules, 'no rule names its addresses').not.toContain(` ${network.subnet.split('.').slice(0, 3).join('.')}.`);
  expect(fs.existsSync(`/sys/class/net/${network.bridge}`), 'the bridge').toBe(false);
  expect(fs.existsSync(path.join(IPAM_DIR, network.name)), 'host-local\'s folder').toBe(false);
  expect(mountsUnder(run.stateDir)).toEqual([]);
  const portmapChains = [...dnChains()].filter((chain) => !chainsBefore.has(chain));
  expect(portmapChains, 'portmap\'s chain of the container, with its SETMARK rules').toEqual([]);
});

test('a run being made (its folders, no owner.pid yet) and its cgroup are left alone; the same run a minute old is a leftover', async () => {
  requireRoot();
  // What HostRun's constructor has done halfway, as another process's run would be seen by this one.
  const id = `${WORKSHOP_PREFIX}${process.pid.toString(16).slice(-6).padStart(6, '0')}`;
  const dirs = [path.join(RUNS_DIR, id), path.join(RUN_STATE_DIR, id)];
  for (const dir of dirs) fs.mkdirSync(dir, { recursive: true });
  for (const top of cgroupDirs('')) fs.mkdirSync(path.join(top, CGROUP_PARENT, id), { recursive: true });
  try {
    await removeStaleRuns();
    expect(dirs.filter((dir) => fs.existsSync(dir)), 'the new run\'s folders').toEqual(dirs);
    expect(cgroupDirs(`${CGROUP_PARENT}/${id}`).length, 'its cgroup').toBeGreaterThan(0);

    const aMinuteAgo = new Date(Date.now() - 120_000);
    for (const dir of dirs) fs.utimesSync(dir, aMinuteAgo, aMinuteAgo);
    await removeStaleRuns();
    expect(dirs.filter((dir) => fs.existsSync(dir))).toEqual([]);
    expect(cgroupDirs(`${CGROUP_PARENT}/${id}`)).toEqual([]);
  } finally {
    await removeRun(id);
  }
});

test('killTree ends a nested run out of time with all it started: a grandchild that ignores SIGTERM too', async () => {
  // A stand-in for a nested vitest and its workers: a child that ignores SIGTERM, and its own child.
  const parent = spawn('sh', ['-c', "trap '' TERM; sh -c \"trap '' TERM; sleep 60\" & sleep 60 & wait"], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => parent.on('exit', () => resolve()));
  const tree = await eventually('the stand-in has started its children', () => {
    const pids = processTree(parent.pid!);
    return pids.length >= 4 && pids;
  });
  killTree(parent.pid!, 200);
  await exited;
  await eventually('every process of the tree is gone', () => tree.every((pid) => !fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')), { timeoutMs: 3000 });
});
