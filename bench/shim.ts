/**
 * Benchmark: conman-shim against its two peers, on the same busybox bundle, in one run.
 *
 *   npx tsx bench/shim.ts                 (as root; ≈ 1.5 minutes)
 *   npm run bench:shim                    (once package.json has "bench:shim": "tsx bench/shim.ts")
 *
 * The three shims:
 *   conman-shim              the workshop's (solutions/03-shim), started with startShim();
 *   conmon                   /usr/bin/conmon, started the way cri-o and podman do: conmon
 *                            runs `runc create` itself and reports the container's PID on its
 *                            sync pipe (fd 3, env _OCI_SYNCPIPE); the manager then `runc start`s;
 *   containerd-shim-runc-v2  through a private containerd (own socket, root, state, config:
 *                            CRI plugin off) and `ctr run -d --config <the same config.json>`.
 *
 * What it measures:
 *   1. start latency, sequential runs, median (runs are interleaved round-robin across kinds
 *      so that background load hits every kind alike), from "start the shim" to "container
 *      running":
 *        conman-shim  startShim() called -> resolved (its handshake says "running");
 *        conman-shim, pooled  the same with an idle shim (IdleShim.start(), as conmand's pool
 *                     keeps them; booted before the clock starts) sent its container on fd 3;
 *        conmon       spawn conmon -> sync pipe says created (pid files present) -> `runc
 *                     start` done -> `runc state` says "running";
 *        containerd   `ctr run -d` spawned -> returned -> `ctr task ls` says RUNNING. This
 *                     includes two ctr client processes and containerd's own work (gRPC,
 *                     metadata in bolt, bundle, `containerd-shim-runc-v2 start`, ttrpc);
 *                     the figure `ctr version` alone costs is printed beside it.
 *      plus a reference without any shim: `runc create` + `runc start` on the same bundle.
 *   2. idle memory with N containers (`sleep 600`) running per kind, one kind at a time: RSS,
 *      PSS (smaps_rollup) and USS (private pages) of each shim process, averaged. The shim is
 *      the container init's parent (checked). For containerd the daemon itself is shown too,
 *      and a grouped variant (annotation io.containerd.runc.v2.group: one shim process for
 *      all N containers, as the CRI plugin does per pod) is given for reference; in 1.6 the
 *      default is one containerd-shim-runc-v2 process per container.
 *
 * Options: --runs N (10)  --containers N (20)  --settle-ms N (12000: idle time before memory
 * is read; V8's memory reducer shrinks a node shim's heap 8-10 s after its last activity, by
 * ≈ 2 MiB)  --no-grouped  --node-flags (extra, ≈ 1.5 minutes more: conman-shim's compiled
 * program under other node/V8 flags, latency and memory, a bare node process as the floor,
 * and a timeline of where its start time goes)  --keep (leave the folder for inspection;
 * containers are still removed).
 *
 * Everything lives under /var/lib/conman-workshop/bench-<random>/ and the cgroup
 * /conman-workshop/bench-<random>/; all of it, containerd included (stopped by its PID), is
 * removed at the end, on failure and on Ctrl-C. Two things cannot be moved: each
 * containerd-shim-runc-v2 puts its socket in /run/containerd/s/ (hard-coded in containerd
 * 1.6; gone once the shim exits), and /run/containerd itself is removed again if this run
 * created it. Nothing is shared with other runs, so tests may run concurrently (their load
 * shows in the figures: look at the load average printed first).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compiled } from '../lib/build.mjs';
import { cgroupDirs, cgroupLayout, removeCgroupTree } from '../lib/host/cgroups.ts';
import { mountsUnder } from '../lib/host/mountinfo.ts';
import { CGROUP_PARENT, HOST_LIB_DIR } from '../lib/paths.ts';
import { createBundle } from '../solutions/01-bundle/bundle.ts';
import { IdleShim, LEAN_NODE_FLAGS, ShimClient, startShim, type StartShimOptions } from '../solutions/03-shim/client.ts';
import { startInPodShim } from '../solutions/07-pods/pod-shim-client.ts';

// ---------------------------------------------------------------------------------------
// Options and the run's folders

/**
 * Run as a program (`npx tsx bench/shim.ts`), or imported by another benchmark (bench/manager.ts)
 * for its helpers, folders and clean-up: then it reads no options and runs nothing by itself.
 */
const isMain = process.argv[1] !== undefined && fs.realpathSync(path.resolve(process.argv[1])) === fs.realpathSync(fileURLToPath(import.meta.url));

const { values: opts } = parseArgs({
  args: isMain ? process.argv.slice(2) : [],
  options: {
    runs: { type: 'string', default: '10' },
    containers: { type: 'string', default: '20' },
    'settle-ms': { type: 'string', default: '12000' },
    'no-grouped': { type: 'boolean', default: false },
    'node-flags': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const CONTAINERS = Number(opts.containers);
const SETTLE_MS = Number(opts['settle-ms']);

export const RUNC = '/usr/sbin/runc';
const CONMON = '/usr/bin/conmon';
export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
const SHIM_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'solutions', '03-shim', 'conman-shim.ts');

export const BENCH_ID = `bench-${randomBytes(3).toString('hex')}`;
export const BASE = path.join(HOST_LIB_DIR, BENCH_ID);
export const CGROUP = `${CGROUP_PARENT}/${BENCH_ID}`; // relative to each hierarchy's root
const TEMPLATE = path.join(BASE, 'bundle'); // the one busybox rootfs every container uses
export const STATE = {
  shim: path.join(BASE, 'state', 'shim'),
  conmon: path.join(BASE, 'state', 'conmon'),
  runc: path.join(BASE, 'state', 'runc'),
  ctr: path.join(BASE, 'state', 'ctr'),
};
export const CTD = path.join(BASE, 'ctd');
const CTD_SOCK = path.join(CTD, 'c.sock');
const CTD_NS = 'bench';

// ---------------------------------------------------------------------------------------
// Small helpers

export const now = () => performance.now();
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (it must not leave anything holding our pipes). */
export function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like run(), but throws unless the exit code is 0. */
export async function must(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const result = await run(cmd, args, timeoutMs);
  if (result.code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${result.code}): ${(result.stderr || result.stdout).trim()}`);
  return result.stdout;
}

/** Run a command whose stdio must be nothing of ours (runc create: the container inherits it). */
export function runDetachedStdio(cmd: string, args: string[], timeoutMs = 20_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/** Alive and not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function parentOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Run `tasks` with at most `limit` at a time. */
export async function pool<T>(items: T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await task(items[index], index).catch((error) => errors.push(error));
      }
    }),
  );
  if (errors.length) throw errors[0];
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export interface Memory {
  rss: number; // KiB
  pss: number;
  uss: number;
  threads: number;
}

export function memoryOf(pid: number): Memory {
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN);
  const threads = Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return { rss: field('Rss'), pss: field('Pss'), uss: field('Private_Clean') + field('Private_Dirty'), threads };
}

function averageMemory(all: Memory[]): Memory {
  return { rss: mean(all.map((m) => m.rss)), pss: mean(all.map((m) => m.pss)), uss: mean(all.map((m) => m.uss)), threads: mean(all.map((m) => m.threads)) };
}

// ---------------------------------------------------------------------------------------
// Bundles: one busybox rootfs, one config.json per container (only cgroupsPath differs)

let templateSpec: Record<string, any>;

export async function prepareTemplate(): Promise<void> {
  const spec = await createBundle(TEMPLATE, { args: ['sleep', '600'], cgroupsPath: `/${CGROUP}/template`, hostname: 'bench' });
  templateSpec = JSON.parse(JSON.stringify(spec));
}

/** A bundle for container `id`: a config.json naming the shared rootfs by its absolute path. */
function bundleFor(id: string, annotations?: Record<string, string>): string {
  const dir = path.join(BASE, 'bundles', id);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const spec = structuredClone(templateSpec);
  spec.root.path = path.join(TEMPLATE, 'rootfs');
  spec.linux.cgroupsPath = `/${CGROUP}/${id}`;
  if (annotations) spec.annotations = { ...(spec.annotations ?? {}), ...annotations };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

// ---------------------------------------------------------------------------------------
// The kinds: start one container (timed), know its shim, stop it

export interface Started {
  id: string;
  shimPid: number;
  containerPid: number;
  /** Phases of the start, in ms, for the breakdown. */
  phases?: Record<string, number>;
}

export interface Kind {
  name: string;
  /** Prefix of its container ids. */
  tag: string;
  /** What the latency includes. */
  includes: string;
  start(id: string): Promise<Started & { ms: number }>;
  stop(started: Started): Promise<void>;
}

/** Every shim and container we started and did not stop yet, for the cleanup. */
const live = new Map<string, { kind: Kind; started: Started }>();

/** A conman-shim start, timed: `starter` is startShim() or a variant of it, given the container's bundle and folder. */
async function timedShimStart(id: string, starter: (options: StartShimOptions) => Promise<{ shim: { pid: number }; pid: number }>): Promise<Started & { ms: number }> {
  const options = { id, bundle: bundleFor(id), dir: path.join(BASE, 's', id), stateRoot: STATE.shim };
  const t0 = now();
  const started = await starter(options);
  const ms = now() - t0;
  return { id, ms, shimPid: started.shim.pid, containerPid: started.pid };
}

const conmanShim: Kind = {
  name: 'conman-shim',
  tag: 'cs',
  includes: 'startShim(): node + runc create + runc start + handshake',
  start: (id) => timedShimStart(id, (options) => startShim(options)),
  async stop({ id, shimPid }) {
    const client = new ShimClient(path.join(BASE, 's', id));
    await client.kill('SIGKILL');
    await client.wait();
    await client.delete();
    await waitFor(`conman-shim ${id} exits`, () => !alive(shimPid));
    fs.rmSync(client.dir, { recursive: true, force: true });
  },
};

/** A shim from a warm pool (chapter 04's conmand keeps two): started and ready before the clock starts. */
export const POOLED = 'conman-shim, pooled';
const pooledShim: Kind = {
  name: POOLED,
  tag: 'cp',
  includes: 'startShim(options, idle): an idle shim (booted before, untimed) is sent its container: runc create + start + handshake',
  async start(id) {
    const idle = await IdleShim.start(path.join(BASE, 'pool'));
    return timedShimStart(id, (options) => startShim(options, idle));
  },
  stop: (started) => conmanShim.stop(started),
};

/** Chapter 07's pod shim: one conman-shim process runs every container of a pod. */
export const GROUPED = 'conman-shim (grouped, a pod)';
/** How many containers the grouped rows put in one pod (issue 14's figure). */
const POD_SIZE = 10;
const groupedShim: Kind = {
  name: GROUPED,
  tag: 'cg',
  includes: 'startInPodShim(): the pod shim (started with the first container) runs runc create + start + handshake',
  start: (id) => timedShimStart(id, (options) => startInPodShim(path.join(BASE, 'pod'), options)),
  async stop({ id }) {
    // As conman-shim's, but the shim process stays while the pod has other containers.
    const client = new ShimClient(path.join(BASE, 's', id));
    await client.kill('SIGKILL');
    await client.wait();
    await client.delete({ sharedShim: true });
    fs.rmSync(client.dir, { recursive: true, force: true });
  },
};

export const conmon: Kind = {
  name: 'conmon',
  tag: 'cm',
  includes: 'conmon (runc create) + runc start + runc state',
  async start(id) {
    const bundle = bundleFor(id);
    const dir = path.join(BASE, 'conmon', id);
    fs.mkdirSync(path.join(dir, 'exits'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'socks'), { recursive: true });
    const containerPidFile = path.join(dir, 'container.pid');
    const conmonPidFile = path.join(dir, 'conmon.pid');
    // What cri-o passes (minus its cgroup/systemd and exit-command options).
    const args = [
      '--api-version', '1',
      '--cid', id,
      '--cuuid', id,
      '--name', id,
      '--runtime', RUNC,
      '--bundle', bundle,
      '--container-pidfile', containerPidFile,
      '--conmon-pidfile', conmonPidFile,
      '--log-path', `k8s-file:${path.join(dir, 'container.log')}`,
      '--exit-dir', path.join(dir, 'exits'),
      '--socket-dir-path', path.join(dir, 'socks'),
      '--runtime-arg', `--root=${STATE.conmon}`,
    ];
    const t0 = now();
    const child = spawn(CONMON, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env: { ...process.env, _OCI_SYNCPIPE: '3' } });
    const sync = child.stdio[3] as net.Socket;
    // The first conmon exits at once (it forked the daemon); the daemon writes {"data": PID}
    // ({"pid": PID} before API version 1; a negative number and a message on failure) once
    // `runc create` is done, and keeps the pipe.
    const message = await new Promise<{ data?: number; pid?: number; message?: string }>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`conmon ${id}: nothing on the sync pipe within 15 s`)), 15_000);
      sync.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (!text.includes('\n') && !text.trim().endsWith('}')) return;
        clearTimeout(timer);
        try {
          resolve(JSON.parse(text.trim().split('\n')[0]));
        } catch (error) {
          reject(error);
        }
      });
      sync.on('error', () => {});
      sync.on('close', () => {
        clearTimeout(timer);
        if (!text) reject(new Error(`conmon ${id}: the sync pipe closed without a word`));
      });
    });
    sync.destroy();
    const tCreated = now();
    const reported = message.data ?? message.pid ?? -1;
    if (!(reported > 0)) throw new Error(`conmon ${id}: ${message.message ?? JSON.stringify(message)}`);
    // The pid files are written before the sync message; check, as the brief wants them.
    if (!fs.existsSync(containerPidFile) || !fs.existsSync(conmonPidFile)) throw new Error(`conmon ${id}: pid files missing after the sync message`);
    await must(RUNC, ['--root', STATE.conmon, 'start', id]);
    const tStarted = now();
    const state = JSON.parse(await must(RUNC, ['--root', STATE.conmon, 'state', id])) as { status: string };
    if (state.status !== 'running') throw new Error(`conmon ${id}: runc state says ${state.status}`);
    const ms = now() - t0;
    const containerPid = Number(fs.readFileSync(containerPidFile, 'utf8'));
    const shimPid = Number(fs.readFileSync(conmonPidFile, 'utf8'));
    return { id, ms, shimPid, containerPid, phases: { 'conmon -> created': tCreated - t0, 'runc start': tStarted - tCreated, 'runc state': now() - tStarted } };
  },
  async stop({ id, shimPid }) {
    await run(RUNC, ['--root', STATE.conmon, 'kill', id, 'KILL']);
    // conmon reaps the container, writes exits/<id>, then exits.
    await waitFor(`conmon ${id} exits`, () => !alive(shimPid));
    await must(RUNC, ['--root', STATE.conmon, 'delete', '--force', id]);
    fs.rmSync(path.join(BASE, 'conmon', id), { recursive: true, force: true });
  },
};

export const ctrArgs = (...args: string[]) => ['--address', CTD_SOCK, '--namespace', CTD_NS, ...args];

async function ctrTasks(): Promise<Map<string, { pid: number; status: string }>> {
  const out = await must(CTR, ctrArgs('task', 'ls'));
  const tasks = new Map<string, { pid: number; status: string }>();
  for (const line of out.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id) tasks.set(id, { pid: Number(pid), status });
  }
  return tasks;
}

function containerdKind(grouped: boolean): Kind {
  return {
    name: grouped ? 'containerd-shim (grouped)' : 'containerd-shim-runc-v2',
    tag: grouped ? 'cd' : 'ct',
    includes: 'ctr run -d (ctr + containerd + shim start + runc create/start) + ctr task ls',
    async start(id) {
      const bundle = bundleFor(id, grouped ? { 'io.containerd.runc.v2.group': `${BENCH_ID}-group` } : undefined);
      const t0 = now();
      await must(CTR, ctrArgs('run', '-d', '--config', path.join(bundle, 'config.json'), '--runc-root', STATE.ctr, '--fifo-dir', path.join(CTD, 'fifo'), '--log-uri', `file://${path.join(bundle, 'container.log')}`, id));
      const tRun = now();
      const task = (await ctrTasks()).get(id);
      if (task?.status !== 'RUNNING') throw new Error(`ctr ${id}: task is ${task?.status ?? 'missing'}`);
      const ms = now() - t0;
      const shimPid = parentOf(task.pid);
      return { id, ms, shimPid, containerPid: task.pid, phases: { 'ctr run -d': tRun - t0, 'ctr task ls': ms - (tRun - t0) } };
    },
    async stop({ id, shimPid }) {
      await must(CTR, ctrArgs('task', 'rm', '-f', id));
      await must(CTR, ctrArgs('container', 'rm', id));
      if (!grouped) await waitFor(`containerd-shim ${id} exits`, () => !alive(shimPid));
    },
  };
}

const runcOnly: Kind = {
  name: 'runc create+start (no shim)',
  tag: 'rc',
  includes: 'runc create + runc start, stdio /dev/null',
  async start(id) {
    const bundle = bundleFor(id);
    const pidFile = path.join(bundle, 'container.pid');
    const t0 = now();
    const code = await runDetachedStdio(RUNC, ['--root', STATE.runc, 'create', '--bundle', bundle, '--pid-file', pidFile, id]);
    if (code !== 0) throw new Error(`runc create ${id} failed (${code})`);
    await must(RUNC, ['--root', STATE.runc, 'start', id]);
    const ms = now() - t0;
    return { id, ms, shimPid: 0, containerPid: Number(fs.readFileSync(pidFile, 'utf8')) };
  },
  async stop({ id }) {
    await must(RUNC, ['--root', STATE.runc, 'delete', '--force', id]);
  },
};

/** Set once the cleanup begins: nothing new may start after it. */
let aborted = false;
/** Starts in progress, which the cleanup lets finish (or fail) before it sweeps. */
const inflight = new Set<Promise<unknown>>();

async function startTracked(kind: Kind, id: string): Promise<Started & { ms: number }> {
  if (aborted) throw new Error('interrupted');
  // Register before starting, so that a failure half-way is still cleaned up by its id.
  live.set(id, { kind, started: { id, shimPid: 0, containerPid: 0 } });
  const starting = kind.start(id);
  inflight.add(starting);
  try {
    const started = await starting;
    live.set(id, { kind, started });
    return started;
  } finally {
    inflight.delete(starting);
  }
}

/** Stops in progress: the main flow and the cleanup may both ask for one; it runs once. */
const stopping = new Map<string, Promise<void>>();

function stopTracked(id: string): Promise<void> {
  const entry = live.get(id);
  if (!entry) return Promise.resolve();
  let stop = stopping.get(id);
  if (!stop) {
    stop = entry.kind.stop(entry.started).then(() => void live.delete(id));
    stopping.set(id, stop);
    stop.finally(() => stopping.delete(id)).catch(() => {});
  }
  return stop;
}

// ---------------------------------------------------------------------------------------
// containerd: private, stopped by its PID

let containerd: ChildProcess | undefined;
const RUN_CONTAINERD = '/run/containerd';
const preexisting = {
  runContainerd: ['', 's', 'runc', 'fifo'].filter((sub) => fs.existsSync(path.join(RUN_CONTAINERD, sub))),
  hostLibDir: fs.existsSync(HOST_LIB_DIR),
  cgroupParents: cgroupDirs(CGROUP_PARENT),
};

export async function startContainerd(): Promise<void> {
  fs.mkdirSync(path.join(CTD, 'root'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(CTD, 'state'), { recursive: true, mode: 0o700 });
  const config = path.join(CTD, 'config.toml');
  fs.writeFileSync(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(path.join(CTD, 'root'))}`,
      `state = ${JSON.stringify(path.join(CTD, 'state'))}`,
      // No CRI; no /opt/containerd; no snapshotters this machine cannot use anyway.
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]',
      '[grpc]',
      `  address = ${JSON.stringify(CTD_SOCK)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${CTD_SOCK}.ttrpc`)}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      // The v2 task plugin keeps its bundles under root/state above; runc's own state goes
      // to STATE.ctr through `ctr run --runc-root` (default /run/containerd/runc).
      '',
    ].join('\n'),
  );
  const log = fs.openSync(path.join(CTD, 'containerd.log'), 'a');
  // Its own process group: a Ctrl-C reaches us, and we stop it in order.
  containerd = spawn(CONTAINERD, ['--config', config, '--address', CTD_SOCK, '--root', path.join(CTD, 'root'), '--state', path.join(CTD, 'state')], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  containerd.on('error', () => {});
  await waitFor('containerd answers', async () => (await run(CTR, ['--address', CTD_SOCK, 'version'], 5000).catch(() => ({ code: 1 }))).code === 0, 15_000, 50);
}

/** Stop a daemon by its PID: SIGTERM, `graceMs` to exit, then SIGKILL (and 5 s more). */
export async function stopByPid(what: string, pid: number | undefined, graceMs: number): Promise<void> {
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(`${what} (pid ${pid}) exits after SIGTERM`, () => !alive(pid), graceMs, 20);
  } catch {
    process.kill(pid, 'SIGKILL');
    await waitFor(`${what} (pid ${pid}) exits after SIGKILL`, () => !alive(pid), 5000, 20);
  }
}

const stopContainerd = () => stopByPid('containerd', containerd?.pid, 8000);

// ---------------------------------------------------------------------------------------
// Cleanup: whatever happened

let cleaning: Promise<void> | undefined;

/** Remove everything of this run (once: later calls get the same promise); `keep` leaves the folder. */
export function cleanup(keep = opts.keep): Promise<void> {
  cleaning ??= (async () => {
    const began = Date.now();
    aborted = true;
    // (An unref'd timer: it must not keep the process alive once all is done.)
    await Promise.race([Promise.allSettled([...inflight]), new Promise((resolve) => setTimeout(resolve, 20_000).unref())]);
    const problems: string[] = [];
    const attempt = async (what: string, action: () => unknown) => {
      try {
        await action();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message}`);
      }
    };
    // 1. The containers still running, the polite way (each kind's own stop).
    //    (A start that failed half-way has no PIDs: the sweeps below get it.)
    await pool([...live.keys()].filter((id) => live.get(id)!.started.containerPid), 4, async (id) => {
      await attempt(`stop ${id}`, () => stopTracked(id));
    });
    // 2. containerd's leftovers, then containerd itself.
    if (containerd?.pid && alive(containerd.pid)) {
      await attempt('ctr leftovers', async () => {
        for (const id of (await ctrTasks()).keys()) await run(CTR, ctrArgs('task', 'rm', '-f', id));
        const containers = await must(CTR, ctrArgs('container', 'ls', '-q'));
        for (const id of containers.split('\n').filter(Boolean)) await run(CTR, ctrArgs('container', 'rm', id));
      });
    }
    await attempt('stop containerd', stopContainerd);
    // 3. runc state left in our roots.
    for (const root of Object.values(STATE)) {
      const subdirs = fs.existsSync(root) ? fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(root, e.name)) : [];
      for (const sub of fs.existsSync(root) ? [root, ...subdirs] : []) {
        await attempt(`runc list ${sub}`, async () => {
          const out = await run(RUNC, ['--root', sub, 'list', '-q']);
          for (const id of out.stdout.split('\n').filter(Boolean)) await run(RUNC, ['--root', sub, 'delete', '--force', id]);
        });
      }
    }
    // 4. Any process we started that still runs names our folder on its command line
    //    (shims, conmon, containerd-shim -address <our socket>): only those, by PID.
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      let cmdline = '';
      try {
        cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.split('\0').some((word) => word.includes(BASE))) {
        await attempt(`kill ${entry}`, () => process.kill(Number(entry), 'SIGKILL'));
      }
    }
    // 5. Cgroups (kills what still runs in them), mounts, folders.
    await attempt('cgroups', () => removeCgroupTree(CGROUP));
    for (const mount of mountsUnder(BASE)) await attempt(`umount ${mount}`, () => execFileSync('umount', ['-l', mount], { stdio: 'ignore' }));
    if (!keep) await attempt(`rm ${BASE}`, () => fs.rmSync(BASE, { recursive: true, force: true }));
    // 6. Shared parents, only if this run created them and they are empty now.
    for (const sub of ['s', 'runc', 'fifo', '']) {
      if (!preexisting.runContainerd.includes(sub)) {
        try {
          fs.rmdirSync(path.join(RUN_CONTAINERD, sub));
        } catch {
          // not there, or not empty (someone else's)
        }
      }
    }
    for (const dir of cgroupDirs(CGROUP_PARENT)) {
      if (preexisting.cgroupParents.includes(dir)) continue;
      try {
        fs.rmdirSync(dir); // a cgroup goes with rmdir, and only when empty
      } catch {
        // someone else's cgroups are in it now
      }
    }
    if (!preexisting.hostLibDir && !keep) {
      try {
        fs.rmdirSync(HOST_LIB_DIR);
      } catch {
        // in use
      }
    }
    if (problems.length) console.error(`cleanup problems:\n  ${problems.join('\n  ')}`);
    console.error(`cleaned up ${BASE} in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    if (keep) console.error(`kept ${BASE}`);
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------
// The measurements

export interface LatencyResult {
  kind: Kind;
  ms: number[];
  phases: Record<string, number[]>;
}

async function measureLatency(kinds: Kind[]): Promise<LatencyResult[]> {
  return measureLatencyRounds(kinds, RUNS);
}

export async function measureLatencyRounds(kinds: Kind[], rounds: number): Promise<LatencyResult[]> {
  const results = kinds.map((kind) => ({ kind, ms: [] as number[], phases: {} as Record<string, number[]> }));
  // Round 0 warms caches (page cache, the compiled shim, containerd's first shim) and is dropped.
  for (let round = 0; round <= rounds; round++) {
    for (const result of results) {
      const id = `${result.kind.tag}-l${round}`;
      const started = await startTracked(result.kind, id);
      await stopTracked(id);
      if (round === 0) continue;
      result.ms.push(started.ms);
      for (const [phase, ms] of Object.entries(started.phases ?? {})) (result.phases[phase] ??= []).push(ms);
    }
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  return results;
}

interface MemoryResult {
  kind: Kind;
  perShim: Memory;
  shims: number;
  containers: number;
  extra?: { label: string; memory: Memory };
}

async function measureMemory(kind: Kind, count = CONTAINERS): Promise<MemoryResult> {
  const ids = Array.from({ length: count }, (_, i) => `${kind.tag}-m${i}`);
  try {
    for (const id of ids) await startTracked(kind, id);
    await sleep(SETTLE_MS); // idle: let startup garbage be collected
    const shimPids = new Set<number>();
    for (const id of ids) {
      const { started } = live.get(id)!;
      const parent = parentOf(started.containerPid);
      if (parent !== started.shimPid) throw new Error(`${kind.name} ${id}: the container's parent is ${parent} (${commOf(parent)}), not the shim ${started.shimPid}`);
      shimPids.add(started.shimPid);
    }
    const memories = [...shimPids].map(memoryOf);
    const result: MemoryResult = { kind, perShim: averageMemory(memories), shims: shimPids.size, containers: count };
    if (kind.name.startsWith('containerd') && containerd?.pid) result.extra = { label: 'containerd daemon', memory: memoryOf(containerd.pid) };
    return result;
  } finally {
    await pool(ids, 5, (id) => stopTracked(id));
  }
}

// ---------------------------------------------------------------------------------------
// Output

/** A tool's version, found by `pattern` in what `cmd args` prints; "missing" if it cannot run. */
export function versionOf(cmd: string, args: string[], pattern: RegExp): string {
  try {
    return pattern.exec(execFileSync(cmd, args, { encoding: 'utf8' }))?.[1] ?? '?';
  } catch {
    return 'missing';
  }
}

/** The first line of a report: cores, memory, kernel, cgroups and the load right now. */
export function machineLine(): string {
  const layout = cgroupLayout();
  return `machine   nproc ${os.availableParallelism()}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, kernel ${os.release()}, cgroups ${layout.mode}, load avg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

function machineFacts(): string[] {
  return [
    machineLine(),
    `software  node ${process.version}, runc ${versionOf(RUNC, ['--version'], /runc version (\S+)/)}, conmon ${versionOf(CONMON, ['--version'], /conmon version (\S+)/)}, containerd ${versionOf(CONTAINERD, ['--version'], /containerd \S+ (\S+)/)}`,
    `run       ${BENCH_ID}: ${RUNS} latency runs per kind (+1 warm-up dropped), ${CONTAINERS} containers per kind for memory, ${SETTLE_MS} ms idle before reading memory`,
  ];
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
export const pad = (s: string, n: number) => s.padEnd(n);
export const lpad = (s: string, n: number) => s.padStart(n);
const mib = (kib: number) => fmt(kib / 1024, 1);

function printLatency(results: LatencyResult[], ctrVersionMs: number): void {
  console.log(`\n1. Start latency, ms ("start the shim" -> "container running"; ${RUNS} sequential runs)`);
  console.log(`   ${pad('', 30)}${lpad('median', 8)}${lpad('min', 8)}${lpad('max', 8)}   includes`);
  for (const r of results) {
    console.log(`   ${pad(r.kind.name, 30)}${lpad(fmt(median(r.ms)), 8)}${lpad(fmt(Math.min(...r.ms)), 8)}${lpad(fmt(Math.max(...r.ms)), 8)}   ${r.kind.includes}`);
    for (const [phase, ms] of Object.entries(r.phases)) console.log(`   ${pad(`  ${phase}`, 30)}${lpad(fmt(median(ms)), 8)}`);
  }
  console.log(`   ${pad('  (ctr version alone)', 30)}${lpad(fmt(ctrVersionMs), 8)}   one ctr client process + one gRPC call: paid twice above`);
}

function printMemory(results: MemoryResult[]): void {
  console.log(`\n2. Idle memory with ${CONTAINERS} containers running \`sleep 600\`, per shim process (MiB, average)`);
  console.log(`   ${pad('', 30)}${lpad('RSS', 8)}${lpad('PSS', 8)}${lpad('USS', 8)}${lpad('threads', 9)}${lpad('shims', 7)}   PSS per container`);
  for (const r of results) {
    const perContainer = (r.perShim.pss * r.shims) / r.containers;
    console.log(
      `   ${pad(r.kind.name, 30)}${lpad(mib(r.perShim.rss), 8)}${lpad(mib(r.perShim.pss), 8)}${lpad(mib(r.perShim.uss), 8)}${lpad(fmt(r.perShim.threads, 0), 9)}${lpad(String(r.shims), 7)}   ${mib(perContainer)}`,
    );
    if (r.extra) {
      const m = r.extra.memory;
      console.log(`   ${pad(`  + ${r.extra.label}`, 30)}${lpad(mib(m.rss), 8)}${lpad(mib(m.pss), 8)}${lpad(mib(m.uss), 8)}${lpad(fmt(m.threads, 0), 9)}${lpad('1', 7)}   ${mib(m.pss / r.containers)} (its share, not counted above)`);
    }
  }
}

export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

function printSummary(latency: LatencyResult[], memory: MemoryResult[]): void {
  const lat = (name: string) => median(latency.find((r) => r.kind.name === name)!.ms);
  const pss = (name: string) => memory.find((r) => r.kind.name === name)?.perShim.pss ?? NaN;
  const rss = (name: string) => memory.find((r) => r.kind.name === name)?.perShim.rss ?? NaN;
  const [shim, cm, ct] = ['conman-shim', 'conmon', 'containerd-shim-runc-v2'];
  console.log('\n3. Ratios (conman-shim / peer)');
  console.log(`   ${pad('', 30)}${lpad('latency', 9)}${lpad('PSS', 9)}${lpad('RSS', 9)}`);
  console.log(`   ${pad('conman-shim / conmon', 30)}${lpad(ratio(lat(shim), lat(cm)), 9)}${lpad(ratio(pss(shim), pss(cm)), 9)}${lpad(ratio(rss(shim), rss(cm)), 9)}`);
  console.log(`   ${pad('conman-shim / containerd-shim', 30)}${lpad(ratio(lat(shim), lat(ct)), 9)}${lpad(ratio(pss(shim), pss(ct)), 9)}${lpad(ratio(rss(shim), rss(ct)), 9)}`);
  console.log(`   ${pad('pooled conman-shim / conmon', 30)}${lpad(ratio(lat(POOLED), lat(cm)), 9)}${lpad('', 9)}${lpad('', 9)}   (its memory is conman-shim's: the same process, booted earlier)`);

  const latencyMet = lat(shim) <= 1.5 * lat(cm);
  const pssMet = pss(shim) <= pss(ct);
  console.log('\n4. Goals (from the issue)');
  console.log(`   start latency ≤ 1.5× conmon's:                 ${fmt(lat(shim))} ms vs ${fmt(1.5 * lat(cm))} ms allowed (${ratio(lat(shim), lat(cm))})  -> ${latencyMet ? 'MET' : 'NOT MET'}`);
  console.log(`     the same from a warm pool (issue 13):          ${fmt(lat(POOLED))} ms (${ratio(lat(POOLED), lat(cm))})  -> ${lat(POOLED) <= 1.5 * lat(cm) ? 'MET' : 'NOT MET'}`);
  console.log(`   PSS with ${CONTAINERS} running ≤ containerd-shim-runc-v2's: ${mib(pss(shim))} MiB vs ${mib(pss(ct))} MiB per shim (${ratio(pss(shim), pss(ct))})  -> ${pssMet ? 'MET' : 'NOT MET'}`);
  // Issue 14: grouped, per container, against containerd's ungrouped shim (one per container).
  const perContainer = (name: string) => {
    const r = memory.find((m) => m.kind.name === name);
    return r ? (r.perShim.pss * r.shims) / r.containers : NaN;
  };
  const grouped = perContainer(GROUPED);
  console.log(`   PSS per container, one pod of ${POD_SIZE} under one conman-shim ≤ containerd-shim-runc-v2's ungrouped: ${mib(grouped)} MiB vs ${mib(perContainer(ct))} MiB (${ratio(grouped, perContainer(ct))})  -> ${grouped <= perContainer(ct) ? 'MET' : 'NOT MET'}`);
  console.log(`     beside containerd's grouped shim with ${POD_SIZE}: ${mib(perContainer(`containerd-shim (grouped, ${POD_SIZE})`))} MiB per container (${ratio(grouped, perContainer(`containerd-shim (grouped, ${POD_SIZE})`))})`);
}

// ---------------------------------------------------------------------------------------
// --node-flags: the compiled shim under other node/V8 flags, and where its start time goes

/** startShim() with other node flags (and an optional preload), timed. */
async function startShimWithFlags(id: string, flags: string[], env: Record<string, string> = {}): Promise<Started & { ms: number }> {
  const bundle = bundleFor(id);
  const dir = path.join(BASE, 's', id);
  const t0 = now();
  const message = await startShim({ id, bundle, dir, runtime: 'runc', stateRoot: STATE.shim, lingerMs: 300_000, nodeFlags: flags, env });
  const ms = now() - t0;
  const phases: Record<string, number> = {};
  const timeline = env.BENCH_TIMELINE;
  if (timeline && fs.existsSync(timeline)) {
    // Contiguous phases from "startShim() called" to "resolved": they add up to the total.
    const events = JSON.parse(fs.readFileSync(timeline, 'utf8')) as Array<[string, number]>;
    let previous = performance.timeOrigin + t0;
    for (const [name, at] of events) {
      phases[name] = at - previous;
      previous = at;
    }
    phases['handshake -> startShim() resolves'] = performance.timeOrigin + now() - previous;
  }
  return { id, ms, shimPid: message.shim.pid, containerPid: message.pid, phases };
}

/** A preload (--import) that timestamps the shim's life without touching its source. */
const TIMELINE_PRELOAD = `
import dc from 'node:diagnostics_channel';
import fs from 'node:fs';
const at = () => performance.timeOrigin + performance.now();
const events = [['spawn -> node process exists (fork+exec)', performance.timeOrigin], ['node bootstrap -> preload runs', at()]];
let first = true;
dc.subscribe('child_process', (message) => {
  const child = message.process;
  if (!child) return;
  const t = at();
  child.once('spawn', () => {
    const what = child.spawnargs.find((a) => ['create', 'start', 'delete', 'state', 'kill'].includes(a)) ?? child.spawnfile;
    if (first) events.push(['load bundle + koffi + setup -> first spawn', t]);
    else events.push(['between runtime calls (' + what + ')', t]);
    first = false;
    child.once('exit', () => events.push(['runc ' + what + ' (spawn -> exit)', at()]));
  });
});
const writeSync = fs.writeSync;
fs.writeSync = function (fd, ...rest) {
  if (fd === 3) {
    events.push(['after runc start -> handshake (control socket)', at()]);
    try { fs.writeFileSync(process.env.BENCH_TIMELINE, JSON.stringify(events)); } catch {}
  }
  return writeSync.call(this, fd, ...rest);
};
`;

interface FlagVariant {
  label: string;
  flags: string[];
  env?: Record<string, string>;
}

const BASE_FLAGS = LEAN_NODE_FLAGS; // what startShim() passes
const VARIANTS: FlagVariant[] = [
  { label: 'no flags', flags: [] },
  { label: 'heap limits only (the flags before the lean ones)', flags: ['--max-old-space-size=32', '--max-semi-space-size=1'] },
  { label: 'startShim flags (current)', flags: BASE_FLAGS },
  { label: '+ --v8-pool-size=0', flags: [...BASE_FLAGS, '--v8-pool-size=0'] },
  { label: '+ --jitless', flags: [...BASE_FLAGS, '--jitless'] },
  { label: '+ --optimize-for-size', flags: [...BASE_FLAGS, '--optimize-for-size'] },
  { label: '+ UV_THREADPOOL_SIZE=1 (env)', flags: BASE_FLAGS, env: { UV_THREADPOOL_SIZE: '1' } },
];

/** The floor any node-based shim starts from: a bare node process (no shim code) to exit. */
async function bareNodeLatency(rounds: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i <= rounds; i++) {
    const t0 = now();
    await runDetachedStdio(process.execPath, [...BASE_FLAGS, '-e', '0']);
    if (i > 0) ms.push(now() - t0);
  }
  return median(ms);
}

/** Idle bare node processes listening on a unix socket (their last argument names our folder, for the sweep). */
function startIdleBareNodes(count: number): ChildProcess[] {
  return Array.from({ length: count }, (_, i) =>
    spawn(process.execPath, [...BASE_FLAGS, '-e', "require('net').createServer().listen(process.argv[1]); setInterval(() => {}, 1e9)", path.join(BASE, `bare-${i}.sock`)], { stdio: 'ignore' }),
  );
}

async function nodeFlagExperiments(): Promise<void> {
  const rounds = Math.max(3, Math.min(RUNS, 6));
  const perVariant = 2; // all variants idle at once: ~20 node shims share the node binary, as in part 2
  const kinds: Kind[] = VARIANTS.map((variant, index) => ({
    name: variant.label,
    tag: `f${index}`,
    includes: '',
    start: (id) => startShimWithFlags(id, variant.flags, variant.env),
    stop: conmanShim.stop,
  }));
  // Where the start time goes: a preload timestamps node's bootstrap, the first runtime call
  // (everything before it is loading the bundle, koffi and the shim's setup), each runc call
  // and the handshake. It runs interleaved with the variants, under the same load.
  const preload = path.join(BASE, 'timeline-preload.mjs');
  fs.writeFileSync(preload, TIMELINE_PRELOAD);
  const timelineKind: Kind = {
    name: 'timeline',
    tag: 'tl',
    includes: '',
    start: (id) => startShimWithFlags(id, [...BASE_FLAGS, '--import', preload], { BENCH_TIMELINE: path.join(BASE, 's', id, 'timeline.json') }),
    stop: conmanShim.stop,
  };
  process.stderr.write(`node flags: latency (${rounds + 1} rounds) `);
  const latency = await measureLatencyRounds([...kinds, timelineKind], rounds);
  const floorMs = await bareNodeLatency(rounds);
  process.stderr.write('node flags: memory...\n');
  const floorChildren = startIdleBareNodes(perVariant);
  const ids = kinds.flatMap((kind) => Array.from({ length: perVariant }, (_, i) => ({ kind, id: `${kind.tag}-m${i}` })));
  const memory = new Map<Kind, Memory>();
  let floorMemory: Memory | undefined;
  try {
    for (const { kind, id } of ids) await startTracked(kind, id);
    await sleep(SETTLE_MS);
    for (const kind of kinds) {
      memory.set(kind, averageMemory(ids.filter((x) => x.kind === kind).map((x) => memoryOf(live.get(x.id)!.started.shimPid))));
    }
    floorMemory = averageMemory(floorChildren.map((child) => memoryOf(child.pid!)));
  } finally {
    for (const child of floorChildren) child.kill('SIGKILL');
    await pool(ids.map((x) => x.id), 5, (id) => stopTracked(id));
  }

  console.log(`\n5. conman-shim's compiled program under other node flags (startShim() emulated; latency: median of ${rounds}; memory: ${perVariant} idle shims per variant, all variants at once, ${SETTLE_MS} ms idle)`);
  console.log(`   ${pad('node flags', 52)}${lpad('start', 8)}${lpad('RSS', 8)}${lpad('PSS', 8)}${lpad('USS', 8)}${lpad('thr', 5)}   (ms, MiB)`);
  console.log(`   ${pad('floor: bare node, no shim code (node -e 0 / idle)', 52)}${lpad(fmt(floorMs), 8)}${lpad(mib(floorMemory!.rss), 8)}${lpad(mib(floorMemory!.pss), 8)}${lpad(mib(floorMemory!.uss), 8)}${lpad(fmt(floorMemory!.threads, 0), 5)}`);
  for (const result of latency) {
    const m = memory.get(result.kind);
    if (!m) continue;
    console.log(`   ${pad(result.kind.name, 52)}${lpad(fmt(median(result.ms)), 8)}${lpad(mib(m.rss), 8)}${lpad(mib(m.pss), 8)}${lpad(mib(m.uss), 8)}${lpad(fmt(m.threads, 0), 5)}`);
  }

  const timeline = latency.find((r) => r.kind === timelineKind)!;
  console.log(`\n6. Where conman-shim's start time goes (startShim flags + a timestamping --import preload; median of ${rounds}, ms)`);
  for (const [phase, ms] of Object.entries(timeline.phases)) console.log(`   ${pad(phase, 52)}${lpad(fmt(median(ms)), 8)}`);
  console.log(`   ${pad('total (the medians of the phases need not add up)', 52)}${lpad(fmt(median(timeline.ms)), 8)}`);
}

// ---------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: it creates containers');
  for (const tool of [RUNC, CONMON, CONTAINERD, CTR, '/usr/bin/containerd-shim-runc-v2']) {
    if (!fs.existsSync(tool)) throw new Error(`${tool} is missing (apt-get install runc conmon containerd)`);
  }
  const startedAt = Date.now();
  const loadAtStart = os.loadavg()[0];
  console.log(`conman-shim benchmark: conman-shim vs conmon vs containerd-shim-runc-v2, busybox \`sleep 600\``);
  for (const line of machineFacts()) console.log(line);

  fs.mkdirSync(BASE, { recursive: true, mode: 0o700 });
  for (const dir of Object.values(STATE)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  await prepareTemplate();
  await compiled(SHIM_ENTRY); // build (or check) the shim once, outside the timings
  await startContainerd();

  const ctrVersion: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = now();
    await must(CTR, ['--address', CTD_SOCK, 'version']);
    ctrVersion.push(now() - t0);
  }

  const kinds = [runcOnly, conmanShim, pooledShim, conmon, containerdKind(false)];
  process.stderr.write(`latency (${RUNS + 1} rounds) `);
  const latency = await measureLatency(kinds);

  const memory: MemoryResult[] = [];
  for (const kind of [conmanShim, conmon, containerdKind(false), ...(opts['no-grouped'] ? [] : [containerdKind(true)])]) {
    process.stderr.write(`memory: ${kind.name}...\n`);
    memory.push(await measureMemory(kind));
  }
  // One pod of POD_SIZE containers under one shim (chapter 07), beside containerd's grouped shim with as many.
  process.stderr.write(`memory: ${GROUPED}, ${POD_SIZE} containers...\n`);
  memory.push(await measureMemory(groupedShim, POD_SIZE));
  if (!opts['no-grouped']) {
    process.stderr.write(`memory: containerd-shim (grouped), ${POD_SIZE} containers...\n`);
    memory.push(await measureMemory({ ...containerdKind(true), name: `containerd-shim (grouped, ${POD_SIZE})` }, POD_SIZE));
  }

  printLatency(latency, median(ctrVersion));
  printMemory(memory);
  printSummary(latency, memory);
  console.log(
    `\nNotes: PSS divides shared pages among every process mapping them, so the node shims also share with\n` +
      `other node processes on the machine (this benchmark's own, tests running concurrently); USS counts\n` +
      `private pages only. containerd's latency includes two ctr processes and containerd's own work.`,
  );

  if (opts['node-flags']) await nodeFlagExperiments();
  printTotals(startedAt, loadAtStart);
}

/** The last lines of a report: the time it took, the load, and a warning if the machine was busy. */
export function printTotals(startedAt: number, loadAtStart: number): void {
  const busiest = Math.max(loadAtStart, os.loadavg()[0]);
  console.log(`\ntotal time ${((Date.now() - startedAt) / 1000).toFixed(0)} s; load avg (1 min) ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0].toFixed(2)} at the end`);
  if (busiest > 0.75 * os.availableParallelism()) {
    console.log(`WARNING: the machine was busy (load ${busiest.toFixed(2)} on ${os.availableParallelism()} cores): absolute times are inflated; the ratios, from interleaved runs, hold better. Rerun on an idle machine for absolute figures.`);
  }
}

/**
 * Run a benchmark's `main` as a program: after it, after a failure, and after a Ctrl-C (or
 * SIGTERM, SIGHUP: exit code 130), `cleanupAll` runs, then `after` (a check of what is left).
 */
export async function runAsProgram(main: () => Promise<void>, cleanupAll: () => Promise<void>, after: () => void = () => {}): Promise<void> {
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`\n${signal}: cleaning up ${BASE}...`);
      cleanupAll()
        .then(after)
        .finally(() => process.exit(130));
    });
  }

  try {
    await main();
  } catch (error) {
    if (!interrupted) console.error(`\nbenchmark failed: ${(error as Error).stack ?? error}`);
    process.exitCode = 1;
  } finally {
    await cleanupAll();
    after();
  }
}

if (isMain) await runAsProgram(main, () => cleanup());
