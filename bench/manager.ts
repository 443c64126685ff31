/**
 * Benchmark: the container manager of chapter 04 (conmand + conman) against raw runc and
 * containerd's ctr, on the same busybox rootfs, in one run.
 *
 *   npx tsx bench/manager.ts              (as root; ≈ 2.5-4 minutes)
 *   npm run bench:manager
 *
 * What it measures:
 *   1. one short-lived container, `true`, from "run it" to "it is gone"; sequential runs,
 *      interleaved round-robin across the kinds (one warm-up round dropped), median:
 *        conman run --rm              through a running conmand (`node lib/launch.mjs
 *                                     solutions/04-manager/conman.ts --socket S run --rm ROOTFS true`);
 *        conman --no-daemon run --rm  the Manager library in the CLI's own process (as podman);
 *        runc run                     raw runc on a bundle whose config.json comes from the same
 *                                     generateConfig() as conman's (namespaces, mounts, rootfs in
 *                                     place), stdio /dev/null: the reference every ratio is to;
 *        ctr run --rm                 a private containerd (the one bench/shim.ts starts), with an
 *                                     image imported from an OCI layout of the same rootfs (umoci);
 *        conman run --rm IMAGE        chapter 05's CLI and conmand (own roots), the same image
 *                                     as ctr's, pushed to a local docker-registry and pulled once;
 *        conman run --rm, no pool     a third conmand with --shim-pool 0;
 *      and where conman's time goes: `node -e 0` (Node's floor), `conman --help` (the CLI's start
 *      alone), `conman ps -a` (start + one API request), the same API driven from this process
 *      without any CLI (create, start = the shim, exit reported; with a rootfs and with the
 *      image), and a pooled shim's start -> running through the API beside conmon's (the kind of
 *      bench/shim.ts). Before each pooled run the benchmark waits, untimed, for the pool to be
 *      full (a daemon between bursts); the scale part shows a burst. Then the idle pool's memory.
 *   2. scale: N containers `sleep 600` started with `conman run -d` (P at a time), `conman ps -a`,
 *      conmand stopped with SIGTERM and started again (spawn -> the socket answers GET /version,
 *      and the "recovered in" of its log), `conman ps -a` again and every container still
 *      running with the same PID; then the same after a SIGKILL of conmand (a crash); then
 *      `conman rm -f` of all (P at a time).
 *   3. pods (chapter 07's conmand, own roots, its own CNI network cmwbench on 10.233.0.0/24):
 *      `conman pod create` + 3 × `conman run -d --pod` (a pod of four containers, infra
 *      included, one network attachment, one shim) beside 4 × `conman run -d` (four containers,
 *      each attached to the network on its own, each with a shim); rounds alternate, the first
 *      is dropped, medians.
 *
 * Options: --runs N (10)  --containers N (100)  --parallel P (4)  --keep (leave the folder for
 * inspection; containers, daemons and cgroups are still removed).
 *
 * Everything lives under /var/lib/conman-workshop/bench-<random>/ and the cgroup
 * /conman-workshop/bench-<random>/ (bench/shim.ts's folders, helpers and clean-up are reused):
 * the containers (rm -f through conmand), conmand and containerd (by their PIDs), runc state,
 * stray processes naming the folder, cgroups, mounts and folders are removed at the end, on
 * failure and on Ctrl-C, and the run checks that nothing is left.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cgroupDirs } from '../lib/host/cgroups.ts';
import { processesMentioning } from '../lib/host/hygiene.ts';
import { removeNetworksNamed } from '../lib/host/networks.ts';
import { idleShimsOf } from '../lib/host/processes.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { generateConfig } from '../solutions/01-bundle/config.ts';
import { buildRootfs } from '../solutions/01-bundle/rootfs.ts';
import { ApiClient } from '../solutions/04-manager/client.ts';
import type { ContainerInfo } from '../solutions/04-manager/container-api.ts';
import {
  alive,
  BASE,
  BENCH_ID,
  cleanup as cleanupLikeShimBench,
  CGROUP,
  CONTAINERD,
  CTD,
  CTR,
  ctrArgs,
  fmt,
  lpad,
  machineLine,
  measureLatencyRounds,
  conmon,
  median,
  memoryOf,
  must,
  now,
  pad,
  parentOf,
  pool,
  prepareTemplate,
  printTotals,
  run,
  RUNC,
  runAsProgram,
  runDetachedStdio,
  startContainerd,
  STATE,
  versionOf,
  stopByPid,
  waitFor,
  type Kind,
  type LatencyResult,
  type Memory,
  type Result,
} from './shim.ts';
import { startBenchRegistry, type BenchRegistry } from './registry.ts';

// ---------------------------------------------------------------------------------------
// Options and the run's folders

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    containers: { type: 'string', default: '100' },
    parallel: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const CONTAINERS = Number(opts.containers);
const PARALLEL = Number(opts.parallel);

const UMOCI = '/usr/bin/umoci';
const LAUNCH = path.join(REPO_ROOT, 'lib', 'launch.mjs');
const CONMAN_TS = path.join(REPO_ROOT, 'solutions', '04-manager', 'conman.ts');
const CONMAND_TS = path.join(REPO_ROOT, 'solutions', '04-manager', 'conmand.ts');

const ROOTFS = path.join(BASE, 'rootfs'); // the busybox rootfs every container uses, in place
const CGROUP_PATH = `/${CGROUP}`; // as an OCI cgroupsPath / conmand's --cgroup-parent
/** conmand's world: records, run-time state (shims, runc --root), socket, logs. */
const DAEMON = {
  root: path.join(BASE, 'conman', 'lib'),
  runRoot: path.join(BASE, 'conman', 'run'),
  socket: path.join(BASE, 'conman', 'run', 'conmand.sock'),
  logs: path.join(BASE, 'conman'),
};
/** `conman --no-daemon` needs other roots: it refuses to run beside a live conmand on the same ones. */
const NO_DAEMON = { root: path.join(BASE, 'nd', 'lib'), runRoot: path.join(BASE, 'nd', 'run') };
const CONMAN_VIA_DAEMON = ['--socket', DAEMON.socket];
const CONMAN_NO_DAEMON = ['--no-daemon', '--root', NO_DAEMON.root, '--run-root', NO_DAEMON.runRoot, '--cgroup-parent', CGROUP_PATH];
/**
 * Two more conmands for part 1, each on roots of its own: chapter 04's without its shim pool
 * (--shim-pool 0: what the pool saves), and chapter 05's, which runs images (`conman run
 * --rm IMAGE true`, the same command as `ctr run --rm IMAGE`).
 */
/** Part 3's network: a name, bridge and subnet of its own (the checks use 10.231/16, the lessons 10.232/16). */
const BENCH_NETWORK = { name: 'cmwbench', bridge: 'cmwbench0', subnet: '10.233.0.0/24' };
const SIDE_DAEMONS = {
  noPool: { name: 'nopool', conmand: CONMAND_TS, extra: ['--shim-pool', '0'] },
  images: { name: 'images', conmand: path.join(REPO_ROOT, 'solutions', '05-images', 'conmand.ts'), extra: [] as string[] },
  pods: {
    name: 'pods',
    conmand: path.join(REPO_ROOT, 'solutions', '07-pods', 'conmand.ts'),
    extra: [] as string[],
    env: { CONMAN_CNI_CONF_DIR: path.join(BASE, 'pods', 'net.d'), CONMAN_DEFAULT_NETWORK: BENCH_NETWORK.name, CONMAN_DEFAULT_BRIDGE: BENCH_NETWORK.bridge, CONMAN_DEFAULT_SUBNET: BENCH_NETWORK.subnet },
  },
};
const CONMAN5_TS = path.join(REPO_ROOT, 'solutions', '05-images', 'conman.ts');
const CONMAN7_TS = path.join(REPO_ROOT, 'solutions', '07-pods', 'conman.ts');
const SKOPEO = '/usr/bin/skopeo';
const IMAGE_BASE = 'bench.local/busybox';
const IMAGE = `${IMAGE_BASE}:bench`; // umoci's tag "bench", named after --base-name by ctr import

// ---------------------------------------------------------------------------------------
// conman and conmand

/** Set once the cleanup begins: nothing new may start after it. */
let aborted = false;
/** conman calls in progress, which the cleanup lets finish (or fail) before it sweeps. */
const inflight = new Set<Promise<unknown>>();

/** Run the conman CLI as a user does (lib/launch.mjs: the precompiled program); throws unless it exits 0. */
async function conman(global: string[], args: string[], timeoutMs = 60_000, program = CONMAN_TS): Promise<{ ms: number; stdout: string }> {
  if (aborted) throw new Error('interrupted');
  const t0 = now();
  const running = run(process.execPath, [LAUNCH, program, ...global, ...args], timeoutMs);
  inflight.add(running);
  let result: Result;
  try {
    result = await running;
  } finally {
    inflight.delete(running);
  }
  const ms = now() - t0;
  if (result.code !== 0) throw new Error(`conman ${[...global, ...args].join(' ')} failed (${result.code}): ${(result.stderr || result.stdout).trim()}`);
  return { ms, stdout: result.stdout };
}

let conmand: ChildProcess | undefined;
let conmandStarts = 0;

const conmandRunning = () => conmand !== undefined && conmand.exitCode === null && conmand.signalCode === null;

/** One GET /version on conmand's socket: true once it answers 200. */
function versionAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ socketPath: DAEMON.socket, path: '/version', agent: false, timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => (request.destroy(), resolve(false)));
  });
}

interface DaemonStart {
  /** spawn -> the socket answers GET /version */
  readyMs: number;
  /** conmand's own figure: Manager.open() (recovery) -> listening, from its log */
  recoveredMs: number;
  line: string;
}

/** Start conmand (own process group: a Ctrl-C reaches us, and we stop it in order); resolves once it answers. */
async function startConmand(): Promise<DaemonStart> {
  if (aborted) throw new Error('interrupted');
  const log = path.join(DAEMON.logs, `conmand-${++conmandStarts}.log`);
  const fd = fs.openSync(log, 'a');
  const t0 = now();
  const child = spawn(process.execPath, [LAUNCH, CONMAND_TS, '--root', DAEMON.root, '--run-root', DAEMON.runRoot, '--socket', DAEMON.socket, '--cgroup-parent', CGROUP_PATH], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  child.on('error', () => {});
  conmand = child;
  const logText = () => fs.readFileSync(log, 'utf8');
  await waitFor(
    'conmand answers GET /version',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`conmand exited (${child.exitCode ?? child.signalCode}): ${logText().trim()}`);
      return versionAnswers();
    },
    30_000,
    5,
  );
  const readyMs = now() - t0;
  let line = '';
  await waitFor('conmand logs "listening"', () => (line = /^conmand: listening.*$/m.exec(logText())?.[0] ?? '') !== '', 5000, 5);
  return { readyMs, recoveredMs: Number(/recovered in (\d+) ms/.exec(line)?.[1] ?? NaN), line };
}

/** Stop conmand by its PID with `signal`; resolves with the time it took to exit. */
async function stopConmand(signal: 'SIGTERM' | 'SIGKILL', timeoutMs = 10_000): Promise<number> {
  const child = conmand;
  if (!child?.pid || !conmandRunning()) return 0;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const t0 = now();
  process.kill(child.pid, signal);
  await Promise.race([exited, deadline(timeoutMs, `conmand (pid ${child.pid}) exits after ${signal}`)]);
  return now() - t0;
}

interface SideDaemon {
  root: string;
  runRoot: string;
  socket: string;
  child: ChildProcess;
}
const sideDaemons: SideDaemon[] = [];

/** One of SIDE_DAEMONS, started on its own roots under BASE/<name>/; resolves once it answers. */
async function startSideDaemon(which: { name: string; conmand: string; extra: string[]; env?: Record<string, string> }): Promise<SideDaemon> {
  const dir = path.join(BASE, which.name);
  const daemon = { root: path.join(dir, 'lib'), runRoot: path.join(dir, 'run'), socket: path.join(dir, 'run', 'conmand.sock') };
  fs.mkdirSync(daemon.runRoot, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(path.join(dir, 'conmand.log'), 'a');
  const child = spawn(process.execPath, [LAUNCH, which.conmand, '--root', daemon.root, '--run-root', daemon.runRoot, '--socket', daemon.socket, '--cgroup-parent', CGROUP_PATH, ...which.extra], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...which.env },
  });
  fs.closeSync(fd);
  child.on('error', () => {});
  const side = { ...daemon, child };
  sideDaemons.push(side);
  const api = new ApiClient(daemon.socket);
  try {
    await waitFor(`${which.name} conmand answers`, async () => {
      if (child.exitCode !== null) throw new Error(`${which.name} conmand exited: ${fs.readFileSync(path.join(dir, 'conmand.log'), 'utf8').trim()}`);
      return api.version().then(() => true, () => false);
    }, 30_000, 20);
  } finally {
    await api.close();
  }
  return side;
}

/** Wait (untimed) until a conmand's pool is full again, as it is on a daemon that is not started back to back. */
async function poolIsFull(runRoot: string, size = 2): Promise<void> {
  await waitFor(`the shim pool of ${runRoot} has ${size} idle shims`, () => idleShimsOf(runRoot).length >= size, 20_000, 10);
}

/** Rejects after `ms`; its timer keeps nobody waiting (unref'd). */
function deadline(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref());
}

// ---------------------------------------------------------------------------------------
// The rootfs, raw runc's bundles, containerd's image

/** A bundle for raw runc: generateConfig() as conmand's create() calls it, the shared rootfs in place. */
function runcBundle(id: string): string {
  const dir = path.join(BASE, 'bundles', id);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const spec = generateConfig({ args: ['true'], hostname: id, cgroupsPath: `${CGROUP_PATH}/${id}` });
  spec.root = { path: ROOTFS, readonly: false };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

/** An OCI image layout of ROOTFS (one layer, made by umoci), imported into containerd. */
async function importImage(): Promise<void> {
  const work = path.join(BASE, 'image');
  const layout = path.join(work, 'layout');
  fs.mkdirSync(work, { recursive: true, mode: 0o700 });
  await must('tar', ['-C', ROOTFS, '-cf', path.join(work, 'layer.tar'), '.']);
  await must(UMOCI, ['init', '--layout', layout]);
  await must(UMOCI, ['new', '--image', `${layout}:bench`]);
  await must(UMOCI, ['raw', 'add-layer', '--image', `${layout}:bench`, path.join(work, 'layer.tar')]);
  await must('tar', ['-C', layout, '-cf', path.join(work, 'layout.tar'), '.']);
  await must(CTR, ctrArgs('images', 'import', '--base-name', IMAGE_BASE, path.join(work, 'layout.tar')), 60_000);
  const images = await must(CTR, ctrArgs('images', 'ls', '-q'));
  if (!images.split('\n').includes(IMAGE)) throw new Error(`ctr images import: no ${IMAGE} (have: ${images.trim() || 'none'})`);
}

/** The same image for chapter 05's conmand: the layout pushed to a local registry, pulled into its store. */
async function pullImageForConman(images: SideDaemon): Promise<string> {
  registry = await startBenchRegistry(path.join(BASE, 'registry'));
  const ref = `${registry.host}/bench/busybox:bench`;
  await must(SKOPEO, ['copy', '--quiet', `oci:${path.join(BASE, 'image', 'layout')}:bench`, `docker://${ref}`, '--dest-tls-verify=false'], 120_000);
  await conman(['--root', images.root], ['pull', '-q', '--insecure-registry', registry.host, ref], 120_000, CONMAN5_TS);
  return ref;
}
let registry: BenchRegistry | undefined;

// ---------------------------------------------------------------------------------------
// Part 1: one short-lived container, and where conman's time goes

/** A latency kind for measureLatencyRounds (bench/shim.ts): each run is over when it resolves. */
function oneShot(name: string, tag: string, includes: string, once: (id: string) => Promise<number | { ms: number; phases: Record<string, number> }>): Kind {
  return {
    name,
    tag,
    includes,
    async start(id) {
      const timed = await once(id);
      return typeof timed === 'number' ? { id, ms: timed, shimPid: 0, containerPid: 0 } : { id, shimPid: 0, containerPid: 0, ...timed };
    },
    async stop() {}, // nothing left running
  };
}

async function timed(what: string, action: () => Promise<number | null | Result>): Promise<number> {
  const t0 = now();
  const outcome = await action();
  const ms = now() - t0;
  const code = typeof outcome === 'object' && outcome !== null ? outcome.code : outcome;
  if (code !== 0) throw new Error(`${what} failed (${code}): ${typeof outcome === 'object' && outcome !== null ? (outcome.stderr || outcome.stdout).trim() : ''}`);
  return ms;
}

const RAW_RUNC = 'runc run (raw)';
const CTR_RUN = 'ctr run --rm (containerd)';
const CONMAN_RUN = 'conman run --rm (conmand)';
const IMAGE_RUN = 'conman run --rm IMAGE (ch. 05)';
const NO_POOL_RUN = 'conman run --rm, no shim pool';
const API_START = '  API start -> running, pooled shim';
const CONMON_START = '  conmon start -> running';
const API_RUN = '  API from this process (no CLI)';
const HELP = '  conman --help';
const NODE = '  node -e 0';
const PS = '  conman ps -a';

interface Sides {
  noPool: SideDaemon;
  images: SideDaemon;
  imageRef: string;
}

/** `true` with --rm through conmand's API, from this process (no CLI): create, start, exit, timed in phases. */
async function apiRun(api: ApiClient, runRoot: string, source: { rootfs: string } | { image: string }): Promise<{ ms: number; phases: Record<string, number> }> {
  await poolIsFull(runRoot);
  const t0 = now();
  const { id } = await api.create({ ...source, args: ['true'], autoRemove: true });
  const tCreated = now();
  const { exited } = await api.watchExit(id, 'next-exit');
  await api.start(id);
  const tStarted = now();
  const exit = await exited;
  const ms = now() - t0;
  if (exit?.exitCode !== 0) throw new Error(`API run: exit ${JSON.stringify(exit)}`);
  return { ms, phases: { create: tCreated - t0, 'start (the shim)': tStarted - tCreated, 'exit reported': ms - (tStarted - t0) } };
}

function latencyKinds(api: ApiClient, imagesApi: ApiClient, sides: Sides): Kind[] {
  return [
    oneShot(RAW_RUNC, 'rc', 'runc --root R run --bundle B ID, stdio /dev/null; same spec as conman', (id) => {
      const bundle = runcBundle(id);
      return timed('runc run', () => runDetachedStdio(RUNC, ['--root', STATE.runc, 'run', '--bundle', bundle, id]));
    }),
    oneShot(CTR_RUN, 'ct', 'ctr process + containerd: snapshot, shim, runc create/start, wait, delete', (id) =>
      timed('ctr run --rm', () => run(CTR, ctrArgs('run', '--rm', '--cgroup', `${CGROUP_PATH}/${id}`, '--runc-root', STATE.ctr, '--fifo-dir', path.join(CTD, 'fifo'), IMAGE, id, 'true'))),
    ),
    oneShot(IMAGE_RUN, 'im', "chapter 05's CLI + conmand: the image's rootfs (overlay), create, pooled shim, logs, exit", async () => {
      await poolIsFull(sides.images.runRoot);
      return (await conman(['--socket', sides.images.socket, '--root', sides.images.root], ['run', '--rm', sides.imageRef, 'true'], 60_000, CONMAN5_TS)).ms;
    }),
    oneShot(CONMAN_RUN, 'cm', 'CLI process + conmand: create, pooled shim start, logs, exit', async () => {
      await poolIsFull(DAEMON.runRoot);
      return (await conman(CONMAN_VIA_DAEMON, ['run', '--rm', ROOTFS, 'true'])).ms;
    }),
    oneShot(NO_POOL_RUN, 'np', 'the same with conmand --shim-pool 0: every start boots a node shim', async () => (await conman(['--socket', sides.noPool.socket], ['run', '--rm', ROOTFS, 'true'])).ms),
    oneShot('conman --no-daemon run --rm', 'nd', 'CLI process holding the Manager: open, create, shim, exit', async () => (await conman(CONMAN_NO_DAEMON, ['run', '--rm', ROOTFS, 'true'])).ms),
    oneShot(API_RUN, 'api', 'create; start: conmand gives the container a pooled shim (runc create/start); exit', () => apiRun(api, DAEMON.runRoot, { rootfs: ROOTFS })),
    oneShot('  API, image (ch. 05 conmand)', 'ai', 'the same with the image: its rootfs mounted (overlay) at create, unmounted at the removal', () =>
      apiRun(imagesApi, sides.images.runRoot, { image: sides.imageRef }),
    ),
    oneShot(API_START, 'as', 'POST /containers/ID/start of a created `sleep 600`, the pool full: pooled shim, runc create + start', async () => {
      const { id } = await api.create({ rootfs: ROOTFS, args: ['sleep', '600'] });
      await poolIsFull(DAEMON.runRoot);
      const t0 = now();
      await api.start(id);
      const ms = now() - t0;
      await api.remove(id, true);
      return ms;
    }),
    { ...conmon, name: CONMON_START, tag: 'cn', includes: "bench/shim.ts's conmon kind: conmon (runc create) + runc start + runc state, sleep 600" },
    oneShot('  GET /containers from this process', 'get', "conmand's side of ps -a: one request, kept-alive connection", async () => {
      const t0 = now();
      await api.list(true);
      return now() - t0;
    }),
    oneShot(HELP, 'help', 'the CLI\'s start alone: node + lib/launch.mjs + conman\'s bundle', async () => (await conman([], ['--help'])).ms),
    oneShot(PS, 'ps', 'CLI start + one API request (GET /containers)', async () => (await conman(CONMAN_VIA_DAEMON, ['ps', '-a'])).ms),
    oneShot(NODE, 'node', "Node's floor: a bare node process", (id) => timed(id, () => runDetachedStdio(process.execPath, ['-e', '0']))),
  ];
}

// ---------------------------------------------------------------------------------------
// Part 2: scale

interface Snapshot {
  ms: number;
  containers: Map<string, { status: string; pid?: number }>;
}

/** `conman ps -a --json`: every container's status and PID. */
async function snapshot(): Promise<Snapshot> {
  const { ms, stdout } = await conman(CONMAN_VIA_DAEMON, ['ps', '-a', '--json']);
  const list = JSON.parse(stdout) as ContainerInfo[];
  return { ms, containers: new Map(list.map((c) => [c.id, { status: c.status, pid: c.pid }])) };
}

/** `conman ps -a` (the table a user reads), timed; checks it has a row per container. */
async function listTable(expected: number): Promise<number> {
  const { ms, stdout } = await conman(CONMAN_VIA_DAEMON, ['ps', '-a']);
  const rows = stdout.trim().split('\n').length - 1;
  if (rows !== expected) throw new Error(`conman ps -a: ${rows} rows, expected ${expected}`);
  return ms;
}

/** All `ids` running, alive, and (when `before` is given) with the same PIDs as before. */
function checkRunning(what: string, current: Snapshot, ids: string[], before?: Snapshot): string {
  const problems: string[] = [];
  for (const id of ids) {
    const c = current.containers.get(id);
    if (!c) problems.push(`${id.slice(0, 12)} missing`);
    else if (c.status !== 'running' || !c.pid || !alive(c.pid)) problems.push(`${id.slice(0, 12)} ${c.status} (pid ${c.pid ?? '-'})`);
    else if (before && before.containers.get(id)?.pid !== c.pid) problems.push(`${id.slice(0, 12)} pid ${before.containers.get(id)?.pid} -> ${c.pid}`);
  }
  if (current.containers.size !== ids.length) problems.push(`${current.containers.size} containers listed, expected ${ids.length}`);
  if (problems.length) throw new Error(`${what}: ${problems.length} problems: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; ...' : ''}`);
  return `${ids.length}/${ids.length} running${before ? ', same PIDs' : ''}`;
}

interface Restart {
  label: string;
  stopMs: number;
  start: DaemonStart;
  firstListMs: number;
  jsonMs: number;
  check: string;
}

interface ScaleResult {
  startAllMs: number;
  perRunMs: number[];
  listMs: number[];
  jsonMs: number;
  check: string;
  conmandMemory: { idle: Memory; loaded: Memory };
  /** KiB, all shims together */
  shims: { rss: number; pss: number };
  restarts: Restart[];
  removeAllMs: number;
  perRemoveMs: number[];
  afterRemove: string;
}

async function restartConmand(label: string, signal: 'SIGTERM' | 'SIGKILL', ids: string[], before: Snapshot): Promise<Restart> {
  process.stderr.write(`scale: conmand ${signal}, start again...\n`);
  const stopMs = await stopConmand(signal);
  const dead = ids.filter((id) => !alive(before.containers.get(id)!.pid!));
  if (dead.length) throw new Error(`after conmand's ${signal}: ${dead.length} containers died`);
  const start = await startConmand();
  const firstListMs = await listTable(ids.length);
  const after = await snapshot();
  return { label, stopMs, start, firstListMs, jsonMs: after.ms, check: checkRunning(`after ${label}`, after, ids, before) };
}

async function scale(idle: Memory): Promise<ScaleResult> {
  const ids: string[] = [];
  const perRunMs: number[] = [];
  process.stderr.write(`scale: ${CONTAINERS} x conman run -d, ${PARALLEL} at a time `);
  const t0 = now();
  await pool(
    Array.from({ length: CONTAINERS }, (_, i) => i),
    PARALLEL,
    async () => {
      const { ms, stdout } = await conman(CONMAN_VIA_DAEMON, ['run', '-d', ROOTFS, 'sleep', '600'], 120_000);
      ids.push(stdout.trim());
      perRunMs.push(ms);
      if (ids.length % 10 === 0) process.stderr.write('.');
    },
  );
  const startAllMs = now() - t0;
  process.stderr.write('\n');

  const listMs = [];
  for (let i = 0; i < 3; i++) listMs.push(await listTable(ids.length));
  const before = await snapshot();
  const check = checkRunning('after run -d', before, ids);
  const shimMemory = ids.map((id) => memoryOf(parentOf(before.containers.get(id)!.pid!)));
  const shims = { rss: shimMemory.reduce((sum, m) => sum + m.rss, 0), pss: shimMemory.reduce((sum, m) => sum + m.pss, 0) };
  const loaded = memoryOf(conmand!.pid!);

  const restarts = [await restartConmand('SIGTERM + start', 'SIGTERM', ids, before), await restartConmand('SIGKILL + start (crash)', 'SIGKILL', ids, before)];

  process.stderr.write(`scale: conman rm -f, ${PARALLEL} at a time\n`);
  const perRemoveMs: number[] = [];
  const t1 = now();
  await pool(ids, PARALLEL, async (id) => {
    perRemoveMs.push((await conman(CONMAN_VIA_DAEMON, ['rm', '-f', id], 120_000)).ms);
  });
  const removeAllMs = now() - t1;
  const left = await snapshot();
  const stillAlive = ids.filter((id) => alive(before.containers.get(id)!.pid!));
  const shimsLeft = processesMentioning(path.join(DAEMON.runRoot, 'shims'));
  if (left.containers.size || stillAlive.length || shimsLeft.length) {
    throw new Error(`after rm -f: ${left.containers.size} listed, ${stillAlive.length} container processes and ${shimsLeft.length} shims alive`);
  }
  return { startAllMs, perRunMs, listMs, jsonMs: before.ms, check, conmandMemory: { idle, loaded }, shims, restarts, removeAllMs, perRemoveMs, afterRemove: '0 listed, no container process, no shim' };
}

// ---------------------------------------------------------------------------------------
// Cleanup: whatever happened

let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    aborted = true;
    await Promise.race([Promise.allSettled([...inflight]), new Promise((resolve) => setTimeout(resolve, 20_000).unref())]);
    const problems: string[] = [];
    // 1. conman's containers, the polite way, while conmand runs (it was stopped maybe: then step 4 gets them).
    if (conmandRunning() && fs.existsSync(DAEMON.socket)) {
      const api = new ApiClient(DAEMON.socket);
      try {
        const removeAll = async () => pool(await api.list(true), 4, (c) => api.remove(c.id, true));
        await Promise.race([removeAll(), deadline(60_000, 'conman rm -f of all')]);
      } catch (error) {
        problems.push(`conman rm -f: ${(error as Error).message}`);
      } finally {
        await api.close().catch(() => {});
      }
    }
    // 2. conmand, by its PID.
    try {
      await stopConmand('SIGTERM');
    } catch {
      await stopConmand('SIGKILL').catch((error: Error) => problems.push(error.message));
    }
    // 2b. The side conmands (their containers first), then the registry, by their PIDs.
    for (const side of sideDaemons) {
      if (side.child.exitCode === null && side.child.signalCode === null) {
        // A pod's infra goes only with its pod: the pods first (chapter 07's conmand only).
        const pods = await new ApiClient(side.socket).json<{ id: string }[]>('GET', '/pods').catch(() => []);
        for (const pod of pods) await run(process.execPath, [LAUNCH, CONMAN7_TS, '--socket', side.socket, 'pod', 'rm', '-f', pod.id], 60_000).catch(() => {});
        const api = new ApiClient(side.socket);
        await Promise.race([api.list(true).then((all) => pool(all, 4, (c) => api.remove(c.id, true))), deadline(30_000, 'rm -f of a side conmand')]).catch((error: Error) => problems.push(error.message));
        await api.close().catch(() => {});
        await stopByPid('a side conmand', side.child.pid, 10_000).catch((error: Error) => problems.push(error.message));
      }
    }
    await registry?.stop().catch((error: Error) => problems.push(`docker-registry: ${error.message}`));
    // 3. runc state under conman's run roots (containers whose shim is gone).
    for (const root of [path.join(DAEMON.runRoot, 'runc'), path.join(NO_DAEMON.runRoot, 'runc'), ...sideDaemons.map((side) => path.join(side.runRoot, 'runc'))]) {
      if (!fs.existsSync(root)) continue;
      const out = await run(RUNC, ['--root', root, 'list', '-q']).catch(() => ({ stdout: '' }));
      for (const id of out.stdout.split('\n').filter(Boolean)) await run(RUNC, ['--root', root, 'delete', '--force', id]).catch(() => {});
    }
    // 3b. Part 3's network: its bridge, leases and rules.
    try {
      removeNetworksNamed(BENCH_NETWORK.name);
    } catch (error) {
      problems.push(`network ${BENCH_NETWORK.name}: ${(error as Error).message}`);
    }
    if (problems.length) console.error(`cleanup problems:\n  ${problems.join('\n  ')}`);
    // 4. The rest as bench/shim.ts does it: containerd's containers, containerd (by PID), runc
    //    state, processes naming our folder (shims), cgroups, mounts, folders.
    await cleanupLikeShimBench(opts.keep);
  })();
  return cleaning;
}

let reported = false;

/** Check and say (once) what is left on the host after the cleanup: should be nothing. */
function reportLeftovers(): void {
  if (reported) return;
  reported = true;
  const found: string[] = [];
  for (const pid of processesMentioning(BASE)) found.push(`process ${pid}`);
  if (!opts.keep && fs.existsSync(BASE)) found.push(`folder ${BASE}`);
  for (const dir of cgroupDirs(CGROUP)) found.push(`cgroup ${dir}`);
  console.log(found.length ? `LEFT BEHIND: ${found.join(', ')}` : `after cleanup: no process names ${BASE}, ${opts.keep ? 'the folder is kept (--keep)' : 'the folder is gone'}, no cgroup ${CGROUP}`);
  if (found.length) process.exitCode = 1;
}

// ---------------------------------------------------------------------------------------
// Output

function machineFacts(): string[] {
  const git = (...args: string[]) => execFileSync('git', ['-C', REPO_ROOT, ...args], { encoding: 'utf8' }).trim();
  let tree = '?';
  try {
    const changed = git('status', '--porcelain', '--', 'solutions/04-manager', 'solutions/03-shim', 'lib').split('\n').filter(Boolean).length;
    tree = `${git('rev-parse', '--short', 'HEAD')}${changed ? ` + ${changed} uncommitted file(s) in solutions/03-shim, 04-manager, lib (measured as they are)` : ', clean'}`;
  } catch {
    // not a git checkout
  }
  return [
    machineLine(),
    `software  node ${process.version}, runc ${versionOf(RUNC, ['--version'], /runc version (\S+)/)}, containerd ${versionOf(CONTAINERD, ['--version'], /containerd \S+ (\S+)/)}, umoci ${versionOf(UMOCI, ['--version'], /umoci version (\S+)/)}; tree ${tree}`,
    `run       ${BENCH_ID}: ${RUNS} runs per kind (+1 warm-up round dropped), ${CONTAINERS} containers (${PARALLEL} at a time) for the scale part`,
  ];
}

const ratioTo = (ms: number, reference: number) => `${(ms / reference).toFixed(ms < reference / 10 ? 2 : 1)}×`;

function printLatency(results: LatencyResult[]): void {
  const m = (name: string) => median(results.find((r) => r.kind.name === name)!.ms);
  const runc = m(RAW_RUNC);
  console.log(`\n1. One short-lived container (\`true\`), ms, from "run it" to "it is gone" (${RUNS} sequential runs, interleaved)`);
  console.log(`   ${pad('', 38)}${lpad('median', 8)}${lpad('min', 8)}${lpad('max', 8)}${lpad('× runc', 9)}   includes`);
  let breakdown = false;
  for (const r of results) {
    // The breakdown rows are indented; a heading before the first.
    if (!breakdown && r.kind.name.startsWith('  ')) console.log(`   where conman's time goes:`);
    breakdown ||= r.kind.name.startsWith('  ');
    const m = median(r.ms);
    console.log(`   ${pad(r.kind.name, 38)}${lpad(fmt(m), 8)}${lpad(fmt(Math.min(...r.ms)), 8)}${lpad(fmt(Math.max(...r.ms)), 8)}${lpad(ratioTo(m, runc), 9)}   ${r.kind.includes}`);
    for (const [phase, ms] of Object.entries(r.phases)) console.log(`   ${pad(`    ${phase}`, 38)}${lpad(fmt(median(ms)), 8)}`);
  }
  const [help, api] = [m(HELP), m(API_RUN)];
  console.log(
    `   roughly: CLI start (--help) ${fmt(help, 0)} + conmand's work (API) ${fmt(api, 0)} = ${fmt(help + api, 0)} ms; conman run --rm measured ${fmt(m(CONMAN_RUN), 0)} ms.\n` +
      `   ps -a is --help + ${fmt(m(PS) - help, 0)} ms: loading the API client (node:http) and one request.`,
  );
}

function printScale(s: ScaleResult, first: DaemonStart): void {
  const mib = (kib: number) => `${fmt(kib / 1024)} MiB`;
  const row = (label: string, value: string, note = '') => console.log(`   ${pad(label, 44)}${lpad(value, 10)}   ${note}`);
  console.log(`\n2. Scale: ${CONTAINERS} containers \`sleep 600\` under one conmand (ms)`);
  row('conmand first start, no containers', fmt(first.readyMs, 0), `spawn -> socket answers GET /version; its log: "recovered in ${first.recoveredMs} ms"`);
  row(`start all (conman run -d, ${PARALLEL} at a time)`, fmt(s.startAllMs, 0), `${fmt(s.startAllMs / CONTAINERS)} ms per container; one call: median ${fmt(median(s.perRunMs), 0)}, max ${fmt(Math.max(...s.perRunMs), 0)}`);
  row(`conman ps -a (${CONTAINERS} rows), median of 3`, fmt(median(s.listMs), 0), `ps -a --json ${fmt(s.jsonMs, 0)}; ${s.check}`);
  const { idle, loaded } = s.conmandMemory;
  row('memory (RSS / PSS)', '', `conmand ${mib(idle.rss)} / ${mib(idle.pss)} just started, ${mib(loaded.rss)} / ${mib(loaded.pss)} with ${CONTAINERS} containers`);
  row('', '', `the ${CONTAINERS} shims: ${mib(s.shims.rss)} / ${mib(s.shims.pss)} in all, ${mib(s.shims.rss / CONTAINERS)} / ${mib(s.shims.pss / CONTAINERS)} each`);
  for (const r of s.restarts) {
    console.log(`   conmand ${r.label}:`);
    row('  signal -> conmand exited', fmt(r.stopMs, 0));
    row('  spawn -> socket answers GET /version', fmt(r.start.readyMs, 0), `its log: "recovered in ${r.start.recoveredMs} ms"`);
    row('  first conman ps -a', fmt(r.firstListMs, 0), `ps -a --json ${fmt(r.jsonMs, 0)}; ${r.check}`);
  }
  row(`remove all (conman rm -f, ${PARALLEL} at a time)`, fmt(s.removeAllMs, 0), `${fmt(s.removeAllMs / CONTAINERS)} ms per container; one call: median ${fmt(median(s.perRemoveMs), 0)}; then ${s.afterRemove}`);
}

// ---------------------------------------------------------------------------------------
// 3. Pods (chapter 07)

interface PodTimings {
  pod: number[];
  plain: number[];
}

/** A pod of four (pod create + 3 run -d --pod) beside four plain `run -d`, alternating; the first round dropped. */
async function measurePods(side: SideDaemon): Promise<PodTimings> {
  const global = ['--socket', side.socket];
  const conman7 = (args: string[]) => conman(global, args, 60_000, CONMAN7_TS);
  const timings: PodTimings = { pod: [], plain: [] };
  for (let round = 0; round <= RUNS; round++) {
    process.stderr.write('.');
    const t0 = now();
    await conman7(['pod', 'create', '--name', `bp${round}`]);
    for (const n of [1, 2, 3]) await conman7(['run', '-d', '--pod', `bp${round}`, '--name', `bp${round}-${n}`, ROOTFS, 'sleep', '600']);
    const podMs = now() - t0;
    const t1 = now();
    for (const n of [0, 1, 2, 3]) await conman7(['run', '-d', '--name', `bc${round}-${n}`, ROOTFS, 'sleep', '600']);
    const plainMs = now() - t1;
    if (round > 0) {
      timings.pod.push(podMs);
      timings.plain.push(plainMs);
    }
    await conman7(['pod', 'rm', '-f', `bp${round}`]);
    await conman7(['rm', '-f', ...[0, 1, 2, 3].map((n) => `bc${round}-${n}`)]);
  }
  process.stderr.write('\n');
  return timings;
}

function printPods(timings: PodTimings): void {
  const pod = median(timings.pod);
  const plain = median(timings.plain);
  console.log(`\n3. Pods (chapter 07's conmand, network ${BENCH_NETWORK.name}; ${timings.pod.length} rounds, median)`);
  console.log(`   pod create + 3 × run -d --pod (4 containers, 1 network attachment, 1 shim):  ${fmt(pod)} ms`);
  console.log(`   4 × run -d (4 containers, 4 network attachments, 4 shims):               ${fmt(plain)} ms`);
  console.log(`   ratio pod / plain: ${ratioTo(pod, plain)}`);
}

function printGoal(results: LatencyResult[], poolMemory: Memory[]): void {
  const m = (name: string) => median(results.find((r) => r.kind.name === name)!.ms);
  const [runc, ctr, cm, image, noPool, help, node, apiStart, conmonStart] = [m(RAW_RUNC), m(CTR_RUN), m(CONMAN_RUN), m(IMAGE_RUN), m(NO_POOL_RUN), m(HELP), m(NODE), m(API_START), m(CONMON_START)];
  const verdict = (met: boolean) => (met ? 'MET' : 'NOT MET');
  const mib = (kib: number) => `${fmt(kib / 1024)} MiB`;
  console.log('\n4. Goals (from the issues)');
  console.log(`   conman run --rm IMAGE true ≤ 1.5× ctr run --rm:   ${fmt(image)} ms vs ${fmt(1.5 * ctr)} ms allowed (${ratioTo(image, ctr)})  -> ${verdict(image <= 1.5 * ctr)}`);
  console.log(`     (with a rootfs folder, no image: ${fmt(cm)} ms, ${ratioTo(cm, ctr)} ctr)`);
  console.log(`   conman --help ≤ 1.3× node -e 0:                   ${fmt(help)} ms vs ${fmt(1.3 * node)} ms allowed (${ratioTo(help, node)})  -> ${verdict(help <= 1.3 * node)}`);
  console.log(`   shim start through the API ≤ 1.5× conmon's:        ${fmt(apiStart)} ms vs ${fmt(1.5 * conmonStart)} ms allowed (${ratioTo(apiStart, conmonStart)})  -> ${verdict(apiStart <= 1.5 * conmonStart)}`);
  console.log(`   conman run --rm ≤ 3× raw runc (issue 4):           ${fmt(cm)} ms vs ${fmt(3 * runc)} ms allowed (${ratioTo(cm, runc)})  -> ${verdict(cm <= 3 * runc)}`);
  const pss = poolMemory.reduce((sum, x) => sum + x.pss, 0);
  const uss = poolMemory.reduce((sum, x) => sum + x.uss, 0);
  console.log(`   the pool's price: ${poolMemory.length} idle shims, ${mib(pss)} PSS (${mib(uss)} USS) in all, for ${fmt(noPool - cm, 0)} ms saved per start (${fmt(noPool, 0)} -> ${fmt(cm, 0)} ms, conman run --rm)`);
}

// ---------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: it creates containers');
  for (const tool of [RUNC, CONTAINERD, CTR, UMOCI, SKOPEO, '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/bin/containerd-shim-runc-v2']) {
    if (!fs.existsSync(tool)) throw new Error(`${tool} is missing (apt-get install runc containerd umoci skopeo conmon docker-registry)`);
  }
  for (const value of [RUNS, CONTAINERS, PARALLEL]) if (!(Number.isInteger(value) && value > 0)) throw new Error('--runs, --containers and --parallel take whole numbers > 0');
  const startedAt = Date.now();
  const loadAtStart = os.loadavg()[0];
  console.log('conman benchmark: conman/conmand (chapter 04) vs raw runc vs containerd, busybox rootfs');
  for (const line of machineFacts()) console.log(line);

  for (const dir of [BASE, ...Object.values(STATE), DAEMON.logs, NO_DAEMON.runRoot]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.stderr.write('setup: rootfs, conman and conmand compiled (warm-up calls), containerd, image...\n');
  await buildRootfs(ROOTFS);
  await conman([], ['--help'], 120_000); // lib/launch.mjs builds (or checks) the programs once, outside the timings
  await must(process.execPath, [LAUNCH, CONMAND_TS, '--help'], 120_000);
  await must(process.execPath, [LAUNCH, CONMAN5_TS, '--help'], 120_000);
  await must(process.execPath, [LAUNCH, CONMAN7_TS, '--help'], 120_000);
  await prepareTemplate(); // conmon's bundle (bench/shim.ts)
  await startContainerd();
  await importImage();
  const first = await startConmand();
  const idle = memoryOf(conmand!.pid!);
  const noPool = await startSideDaemon(SIDE_DAEMONS.noPool);
  const images = await startSideDaemon(SIDE_DAEMONS.images);
  const sides = { noPool, images, imageRef: await pullImageForConman(images) };

  const api = new ApiClient(DAEMON.socket);
  const imagesApi = new ApiClient(images.socket);
  let latency: LatencyResult[];
  let poolMemory: Memory[];
  try {
    process.stderr.write(`latency (${RUNS + 1} rounds) `);
    latency = await measureLatencyRounds(latencyKinds(api, imagesApi, sides), RUNS);
    // The pool at rest: its idle shims, after the same settle time bench/shim.ts gives shims.
    await poolIsFull(DAEMON.runRoot);
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    poolMemory = idleShimsOf(DAEMON.runRoot).map(memoryOf);
  } finally {
    await api.close();
    await imagesApi.close();
  }
  await waitFor('conmand removed the --rm containers', async () => (await snapshot()).containers.size === 0, 15_000, 100);

  const scaleResult = await scale(idle);
  // Started only now: an idle conmand and its pool, booting beside part 1, would be in its figures.
  const pods = await startSideDaemon(SIDE_DAEMONS.pods);
  process.stderr.write(`pods (${RUNS + 1} rounds) `);
  const podTimings = await measurePods(pods);

  printLatency(latency);
  printScale(scaleResult, first);
  printPods(podTimings);
  printGoal(latency, poolMemory);
  printTotals(startedAt, loadAtStart);
}

await runAsProgram(main, cleanup, reportLeftovers);
