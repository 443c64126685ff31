/**
 * Chapter 07 checks: pods on the real stack, through chapter 07's conmand and conman. Real
 * runc containers join a real infra container's namespaces (catatonit, Debian's package), on
 * a real CNI bridge of this test run (lib/host/networks.ts), under a real pod cgroup. Every
 * check ends with nothing of it left on the host (the hygiene check after each test: no
 * process, mount, cgroup, lease or rule). Traffic goes only to 127.0.0.1 inside the pods.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { caught } from '../lib/harness/caught.ts';
import { conmanWorld, LAUNCH, type ConmanWorld } from '../lib/harness/conman-world.ts';
import { eventually } from '../lib/harness/eventually.ts';
import { useHostRun } from '../lib/harness/host-run.ts';
import { webRootfs } from '../lib/harness/web-rootfs.ts';
import { commandLine } from '../lib/host/processes.ts';
import { importTarget, targetPath } from '../lib/harness/target.ts';
import { scaled } from '../lib/slow.ts';
import { createBundle } from '#lower/01-bundle/bundle.ts';
import { ShimClient } from '#lower/03-shim/client.ts';

type PodNamespaces = typeof import('../solutions/07-pods/pod-namespaces.ts');
type PodCgroup = typeof import('../solutions/07-pods/pod-cgroup.ts');
type PodShimClient = typeof import('../solutions/07-pods/pod-shim-client.ts');

const exec = promisify(execFile);
const hostRun = useHostRun();

/** One busybox rootfs for the file, with a page for httpd. */
const sharedRootfs = webRootfs(hostRun, 'hello from the pod\n');

/** A world of chapter 07 whose default network is one of this run's (one per test: their subnets differ). */
function podWorld(name: string): ConmanWorld {
  const network = hostRun().network(name);
  return conmanWorld(hostRun(), '07-pods', name, {
    CONMAN_CNI_CONF_DIR: path.join(hostRun().dir, name, 'net.d'),
    CONMAN_CNI_PATH: '/usr/lib/cni',
    CONMAN_DEFAULT_NETWORK: network.name,
    CONMAN_DEFAULT_BRIDGE: network.bridge,
    CONMAN_DEFAULT_SUBNET: network.subnet,
  });
}

/** The pod shims running for a world: processes titled `conman-shim --pod <runRoot>/pods/...`. */
function podShims(w: ConmanWorld): number[] {
  const prefix = `conman-shim --pod ${path.join(w.runRoot, 'pods')}/`;
  return fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry) && commandLine(Number(entry)).startsWith(prefix)).map(Number);
}

interface Container {
  id: string;
  name: string;
  status: string;
  pid?: number;
  finishedAt?: string;
  pod?: { id: string; role: string };
  exit?: { exitCode: number; oomKilled: boolean };
}
interface Pod {
  id: string;
  name: string;
  status: string;
  infra: string;
  containers: { id: string; name: string; status: string; infra: boolean }[];
}

async function inspect(w: ConmanWorld, ref: string): Promise<Container> {
  return (JSON.parse((await w.ok(['inspect', ref])).stdout) as Container[])[0];
}

async function inspectPod(w: ConmanWorld, ref: string): Promise<Pod> {
  return (JSON.parse((await w.ok(['pod', 'inspect', ref])).stdout) as Pod[])[0];
}

/** Run a test body against a started conmand; remove every pod and container, then stop conmand. */
async function withDaemon(w: ConmanWorld, body: () => Promise<void>): Promise<void> {
  await w.startDaemon();
  try {
    await body();
  } finally {
    const pods = JSON.parse((await w.conman(['pod', 'ps', '--json'])).stdout || '[]') as Pod[];
    if (pods.length > 0) await w.conman(['pod', 'rm', '-f', ...pods.map((pod) => pod.id)]);
    for (const id of (await w.conman(['ps', '-a', '-q'])).stdout.split('\n').filter(Boolean)) await w.conman(['rm', '-f', id]);
    await w.stopDaemon();
  }
}

describe('the pieces, one exercise at a time', () => {
  test('pod-namespaces: a member joins the infra\'s namespaces by their /proc paths ("network" is /proc\'s "net"); a gone infra is named', async () => {
    const { infraNamespaces } = await importTarget<PodNamespaces>('07-pods/pod-namespaces.ts');
    const pid = process.pid;
    expect(infraNamespaces(pid, ['network', 'ipc', 'uts']), 'the infra\'s namespace files, by /proc\'s names (net for network)').toEqual([
      { type: 'network', path: `/proc/${pid}/ns/net` },
      { type: 'ipc', path: `/proc/${pid}/ns/ipc` },
      { type: 'uts', path: `/proc/${pid}/ns/uts` },
    ]);
    expect(infraNamespaces(1, ['pid', 'uts']), 'only the types asked for, in their order').toEqual([
      { type: 'pid', path: '/proc/1/ns/pid' },
      { type: 'uts', path: '/proc/1/ns/uts' },
    ]);
    for (const namespace of infraNamespaces(pid, ['network', 'ipc', 'uts', 'pid'])) {
      expect(fs.readlinkSync(namespace.path), `${namespace.path} is a namespace file the runtime can open`).toMatch(/^(net|ipc|uts|pid):\[\d+\]$/);
    }
    const gone = 2 ** 22 + 1; // above the kernel's largest PID: no such process, ever
    const error = await caught((async () => infraNamespaces(gone, ['network']))());
    expect(error, `infraNamespaces(${gone}) returned instead of throwing: a member would join the namespaces of a process that is gone`).toBeDefined();
    expect(error?.message, 'an infra that is gone, said in words').toMatch(new RegExp(`infra container \\(pid ${gone}\\) is gone`));
    // conmand answers it as a 409 (the pod must be started again), not as a 500 of its own.
    expect((error as { status?: number }).status, 'the error is a conflict (409): conflict(...) of the manager, not a plain Error').toBe(409);
  });

  test('limit-files: the pod\'s memory and CPU limits as cgroup v2 and v1 files; a limit not asked for is "no limit"', async () => {
    const { limitFiles } = await importTarget<PodCgroup>('07-pods/pod-cgroup.ts');
    const limits = { memory: 64 * 1024 * 1024, cpus: 0.5 };
    expect(limitFiles(limits, 'v2'), 'cgroup v2: memory.max in bytes, cpu.max as "quota period"').toEqual([
      { file: 'memory.max', value: '67108864' },
      { file: 'cpu.max', value: '50000 100000' },
    ]);
    expect(limitFiles(limits, 'v1'), 'cgroup v1: memory.limit_in_bytes, cpu.cfs_period_us then cpu.cfs_quota_us').toEqual([
      { file: 'memory.limit_in_bytes', value: '67108864' },
      { file: 'cpu.cfs_period_us', value: '100000' },
      { file: 'cpu.cfs_quota_us', value: '50000' },
    ]);
    expect(limitFiles({}, 'v2'), 'nothing asked: no limits (a pod started again must lose its old ones)').toEqual([
      { file: 'memory.max', value: 'max' },
      { file: 'cpu.max', value: 'max 100000' },
    ]);
    expect(limitFiles({}, 'v1')).toEqual([
      { file: 'memory.limit_in_bytes', value: '-1' },
      { file: 'cpu.cfs_period_us', value: '100000' },
      { file: 'cpu.cfs_quota_us', value: '-1' },
    ]);
    expect(limitFiles({ cpus: 1.33337 }, 'v2')[1].value, 'the quota in whole microseconds').toBe('133337 100000');
  });

  test('pod-shim: two containers in one shim process, each told its own exit; the process stays while one is left and leaves with the last', async () => {
    const { startInPodShim } = await importTarget<PodShimClient>('07-pods/pod-shim-client.ts');
    const podDir = path.join(hostRun().stateDir, 'pods', 'unit');
    const prepare = async (label: string, args: string[]) => {
      const { id, bundle, cgroupsPath } = hostRun().container(label);
      await createBundle(bundle, { args, cgroupsPath });
      return { id, bundle, dir: path.join(hostRun().stateDir, 'shims', id), stateRoot: hostRun().stateRoot('runc') };
    };
    const quick = await prepare('quick', ['sh', '-c', 'sleep 1; exit 3']);
    const long = await prepare('long', ['sleep', '1000']);
    // The long one first: a reaper of its first container's own would then see, and keep, the quick one's exit.
    const first = await startInPodShim(podDir, long);
    const second = await startInPodShim(podDir, quick);
    expect(second.shim.pid, 'the second container went to the same shim process').toBe(first.shim.pid);
    const alive = () => fs.existsSync(`/proc/${first.shim.pid}`);

    // A wait that never ends is said in words, sooner than the check's own time-out.
    const exitOf = (dir: string, what: string) =>
      Promise.race([
        new ShimClient(dir).wait(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what} never reached its Shim within ${scaled(15_000) / 1000} s (does every Shim of the process share its reaper?)`)), scaled(15_000)).unref()),
      ]);
    expect(await exitOf(quick.dir, 'the quick container\'s exit'), 'the quick one\'s own exit code').toMatchObject({ exitCode: 3 });
    await new ShimClient(quick.dir).delete({ sharedShim: true });
    expect(alive(), 'the shim stays: it still runs the long one').toBe(true);
    expect((await new ShimClient(long.dir).state()).status).toBe('running');

    await new ShimClient(long.dir).kill('SIGKILL');
    expect(await exitOf(long.dir, 'the long container\'s exit'), 'the long one\'s own exit').toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
    await new ShimClient(long.dir).delete({ sharedShim: true });
    await eventually('the pod shim leaves with its last container', () => !alive() && !fs.existsSync(path.join(podDir, 'shim.sock')));
  });
});

describe('pods', () => {
  test('two containers of one pod share localhost, the hostname and IPC; a container of another pod shares none of them; one shim per pod', async () => {
    const rootfs = await sharedRootfs();
    const w = podWorld('share');
    await withDaemon(w, async () => {
      await w.ok(['pod', 'create', '--name', 'a', '--hostname', 'pod-a']);
      await w.ok(['pod', 'create', '--name', 'b']);
      await w.ok(['run', '-d', '--pod', 'a', '--name', 'web', rootfs, 'httpd', '-f', '-p', '8080', '-h', '/www']);
      const web = await inspect(w, 'web');
      expect(web.pod?.role, 'web is a member of pod a').toBe('member');

      // localhost and the hostname: another container of pod a reaches web on 127.0.0.1.
      const sameNetwork = await w.ok(['run', '--rm', '--pod', 'a', rootfs, 'sh', '-c', 'hostname; wget -q -O- http://127.0.0.1:8080/index.html']);
      expect(sameNetwork.stdout, 'a member of pod a: its hostname, then web\'s page over localhost').toBe('pod-a\nhello from the pod\n');
      const otherPod = await w.ok(['run', '--rm', '--pod', 'b', rootfs, 'sh', '-c', 'hostname; wget -q -T 3 -O- http://127.0.0.1:8080/index.html || echo nothing']);
      expect(otherPod.stdout, 'a container of pod b: its own hostname, and nothing on its localhost').toBe('b\nnothing\n');

      // IPC: a SysV shared memory segment made in web's IPC namespace is seen by its pod, not by pod b.
      const made = await exec('nsenter', [`--ipc=/proc/${web.pid}/ns/ipc`, 'ipcmk', '-M', '4096']);
      const shmid = /id:\s*(\d+)/.exec(made.stdout)?.[1];
      expect(shmid, `ipcmk said: ${made.stdout}`).toBeDefined();
      const segments = async (pod: string) => (await w.ok(['run', '--rm', '--pod', pod, rootfs, 'cat', '/proc/sysvipc/shm'])).stdout.split('\n').slice(1).filter(Boolean).length;
      expect(await segments('a'), 'pod a sees the segment made in web').toBe(1);
      expect(await segments('b'), 'pod b sees none').toBe(0);

      const shims = podShims(w);
      expect(shims, 'one shim process per pod, whatever the number of containers').toHaveLength(2);
      const pods = JSON.parse((await w.ok(['pod', 'ps', '--json'])).stdout) as Pod[];
      expect(pods.map((pod) => [pod.name, pod.status, pod.containers.length]).sort()).toEqual([['a', 'running', 2], ['b', 'running', 1]]);

      await w.ok(['pod', 'rm', '-f', 'a', 'b']);
      expect(podShims(w), 'each pod shim exits with its pod\'s last container').toEqual([]);
      expect((await w.ok(['ps', '-a', '-q'])).stdout, 'pod rm removes its containers').toBe('');
      expect(fs.readdirSync(path.join(w.runRoot, 'netns')), 'and the infra\'s network namespace').toEqual([]);
      // (the hygiene check after the test: no process, mount, cgroup, lease or iptables rule is left)
    });
  }, scaled(180_000));

  test('pod stop stops the members first and the infra last; pod start brings them all back, joined to the new infra; a member refuses a network of its own', async () => {
    const rootfs = await sharedRootfs();
    const w = podWorld('cycle');
    await withDaemon(w, async () => {
      await w.ok(['pod', 'create', '--name', 'p']);
      await w.ok(['run', '-d', '--pod', 'p', '--name', 'm1', rootfs, 'sleep', '1000']);
      await w.ok(['run', '-d', '--pod', 'p', '--name', 'm2', rootfs, 'sleep', '1000']);
      const refused = await w.conman(['run', '-d', '--pod', 'p', '-p', '8081:80', rootfs, 'true']);
      expect(refused.code, 'a member with ports of its own').not.toBe(0);
      expect(refused.stderr).toMatch(/a container in a pod has the pod's network and hostname; give it to `conman pod create`/);
      const missing = await w.conman(['run', '-d', '--pod', 'nosuchpod', rootfs, 'true']);
      expect(missing.stderr).toMatch(/no such pod: nosuchpod/);
      const infraRemoved = await w.conman(['rm', '-f', (await inspectPod(w, 'p')).infra]);
      expect(infraRemoved.stderr, 'the infra goes only with its pod').toMatch(/is the infra container of pod p, which holds its namespaces: remove the pod \(conman pod rm p\)/);

      await w.ok(['pod', 'stop', '-t', '1', 'p']);
      const pod = await inspectPod(w, 'p');
      expect(pod.status).toBe('exited');
      const infra = await inspect(w, pod.infra);
      for (const name of ['m1', 'm2']) {
        const member = await inspect(w, name);
        expect(member.status).toBe('exited');
        expect(Date.parse(member.finishedAt!), `${name} ended before the infra`).toBeLessThanOrEqual(Date.parse(infra.finishedAt!));
      }

      await w.ok(['pod', 'start', 'p']);
      expect((await inspectPod(w, 'p')).status).toBe('running');
      const newInfra = await inspect(w, pod.infra);
      const namespace = (pid: number, type: string) => fs.readlinkSync(`/proc/${pid}/ns/${type}`);
      for (const name of ['m1', 'm2']) {
        const member = await inspect(w, name);
        expect(member.status).toBe('running');
        for (const type of ['net', 'ipc', 'uts']) expect(namespace(member.pid!, type), `${name} is in the new infra's ${type} namespace`).toBe(namespace(newInfra.pid!, type));
        expect(namespace(member.pid!, 'pid'), 'the PID namespace is not shared unless asked').not.toBe(namespace(newInfra.pid!, 'pid'));
      }
    });
  }, scaled(180_000));

  test('the pod\'s memory limit bounds its containers together: one that exceeds it is OOM-killed and its exit says so; pod stats counts it; --share pid makes catatonit their PID 1', async () => {
    const rootfs = await sharedRootfs();
    const w = podWorld('limits');
    await withDaemon(w, async () => {
      await w.ok(['pod', 'create', '--name', 'small', '--memory', '32m', '--cpus', '0.5', '--share', 'pid']);
      const init = await w.ok(['run', '--rm', '--pod', 'small', rootfs, 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline']);
      expect(init.stdout.trim(), 'PID 1 of the pod is its infra').toBe('/catatonit -P');

      const hog = await w.conman(['run', '--pod', 'small', '--name', 'hog', rootfs, 'sh', '-c', 'tail /dev/zero']);
      expect(hog.code, 'killed by SIGKILL').toBe(137);
      expect((await inspect(w, 'hog')).exit).toMatchObject({ exitCode: 137, oomKilled: true });
      const [stats] = JSON.parse((await w.ok(['pod', 'stats', '--json', 'small'])).stdout) as { memoryLimitBytes: number; oomKills: number; pids: number }[];
      expect(stats.memoryLimitBytes).toBe(32 * 1024 * 1024);
      expect(stats.oomKills, 'the OOM kill counted in the pod').toBeGreaterThanOrEqual(1);
      expect(stats.pids, 'the infra still runs').toBeGreaterThanOrEqual(1);
      expect((await inspectPod(w, 'small')).status, 'the infra outlives a member\'s death').toBe('degraded');
    });
  }, scaled(180_000));

  test('kill -9 conmand with 3 pods of 3 containers each: a new conmand finds every container running, still one shim per pod, and an exec -it session goes on: re-attached, its exit code kept', async () => {
    const rootfs = await sharedRootfs();
    const w = podWorld('crash');
    await withDaemon(w, async () => {
      for (const pod of ['p1', 'p2', 'p3']) {
        await w.ok(['pod', 'create', '--name', pod]);
        for (const n of [1, 2]) await w.ok(['run', '-d', '--pod', pod, '--name', `${pod}-c${n}`, rootfs, 'sleep', '1000']);
      }
      const before = podShims(w);
      expect(before).toHaveLength(3);
      // An exec with a terminal, waiting for a line when conmand dies: the pod's shim runs it, not conmand.
      const session = spawn(process.execPath, [LAUNCH, targetPath('07-pods/conman.ts'), 'exec', '-i', '-t', 'p1-c1', 'sh', '-c', 'echo ready; read line; echo "got $line"; exit 7'], { env: w.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let printed = '';
      session.stdout.on('data', (chunk) => (printed += chunk));
      session.stderr.on('data', (chunk) => (printed += chunk));
      const sessionEnded = new Promise<number | null>((resolve) => session.once('close', resolve));
      await eventually('conman exec printed "ready"', () => printed.includes('ready') || undefined);
      await w.stopDaemon('SIGKILL');
      expect(await sessionEnded, `conman exec, once conmand is gone: ${printed}`).toBe(125);
      const execId = /conman exec --attach ([0-9a-f]+)/.exec(printed)?.[1];
      expect(execId, `conman exec names the exec to go back to: ${printed}`).toBeDefined();
      await w.startDaemon();
      const states = (await w.ok(['ps', '-a', '--format', '{{.Name}} {{.State}} {{.Pod}}'])).stdout.trim().split('\n');
      expect(states, 'every container, infra included, running and in its pod').toHaveLength(9);
      for (const line of states) expect(line).toMatch(/^\S+ running [0-9a-f]{12}$/);
      expect(podShims(w).sort(), 'the same shims, untouched').toEqual(before.sort());
      const pods = JSON.parse((await w.ok(['pod', 'ps', '--json'])).stdout) as Pod[];
      expect(pods.map((pod) => pod.status)).toEqual(['running', 'running', 'running']);

      // Back to the exec through the new conmand: the same shell, still waiting for its line.
      const attached = await w.conman(['exec', '--attach', execId!], { input: 'hello\n' });
      expect(attached.stdout, attached.stderr).toContain('got hello');
      expect(attached.code, 'the exec\'s own exit code').toBe(7);
      const again = await w.conman(['exec', '--attach', execId!]);
      expect(again.code, `an ended exec's exit code is kept: ${again.stderr}`).toBe(7);
    });
  }, scaled(240_000));
});
