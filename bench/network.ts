/**
 * Benchmark: what a container's CNI network costs in chapter 06's conman, against what the
 * plugins themselves take for the same work, in one run.
 *
 *   npx tsx bench/network.ts              (as root; ≈ 2 minutes on the loaded 2-core VM)
 *   npm run bench:network
 *
 * Setup: a busybox rootfs (solutions/01-bundle buildRootfs), a network of this run only
 * (network and bridge `cmwbench<6 hex>`, the subnet 10.233.N.0/24 with an N that no route of the
 * host uses, `ip -4 route show table all`), its conflist in a private conf dir, and chapter 06's
 * conmand (solutions/06-networking/conmand) on private roots, given the CONMAN_* settings of the
 * lesson (CONMAN_ROOT, CONMAN_RUN_ROOT, CONMAN_SOCKET, CONMAN_CGROUP_PARENT, CONMAN_CNI_CONF_DIR,
 * CONMAN_CNI_PATH=/usr/lib/cni, CONMAN_DEFAULT_NETWORK/BRIDGE/SUBNET). One untimed
 * `conman run --rm --network bridge ROOTFS ls /sys/class/net` writes the default network's list
 * (and checks eth0 is there), one with `--network none` checks only lo is.
 *
 * What it measures, per round, the four in a rotating order (one warm-up round dropped), ms:
 *   (a) `solutions/06-networking/conman run --rm --network bridge ROOTFS true` through conmand:
 *       the wall time of the CLI process;
 *   (b) the same with `--network none` (a namespace with the loopback plugin only);
 *   (c) the floor, cnitool-style: the list conman wrote (read back from the conf dir) ADD then
 *       DEL by executing the plugins directly from this process, each with the CNI_* environment
 *       and its stdin (the plugin's object + the list's cniVersion and name; ADD chains
 *       prevResult, DEL runs in reverse with the ADD result), timed from the first spawn to the
 *       last exit, on a fresh namespace file made by `unshare --net=FILE true` before (not
 *       timed) and removed after (not timed);
 *   (d) chapter 06's runner in this process: addNetwork + deleteNetwork (solutions/06-networking/
 *       cni.ts) with an AttachmentCache file, on a fresh namespace (made and removed untimed):
 *       the runtime library's cost without the CLI and the daemon.
 * Reported: medians and spread; the CNI cost per container, median(a) − median(b); its ratio to
 * (c), the figure the goal names (≤ 1.2×); and (d)/(c).
 *
 * Options: --runs N (10)  --keep (leave the folder for inspection; the network, conmand and the
 * namespaces are still removed). (--sweep is internal: the guard below runs it.)
 *
 * Everything lives under /var/lib/conman-workshop/bench-<random>/ (rootfs, conf dir, conmand's
 * root and run root, socket, namespace files, caches) and the cgroup
 * /conman-workshop/bench-<random>/ (bench/shim.ts's folder and clean-up). At the end, after a
 * failure and after a Ctrl-C: what the floor had attached is DELeted, containers still in
 * conmand are removed (`conman rm -f`), conmand is stopped by its PID, the network removed with
 * `conman network rm`, then bench/shim.ts's clean-up (processes naming the folder, cgroups,
 * mounts, the folder) and, as a safety net, removeNetworksNamed() (lib/host/networks.ts: the
 * bridge, host-local's lease folder, iptables rules of the network). A detached guard covers a
 * SIGKILL of this process (tsx sends one when a Ctrl-C is not acknowledged within 30 ms): it
 * waits for this process to go and, if the clean-up did not finish, runs this file with --sweep.
 * The last line says what is left (nothing, or "LEFT BEHIND: ..."). No traffic leaves the
 * machine: the containers run `true`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cgroupDirs, removeCgroupTree } from '../lib/host/cgroups.ts';
import { processesMentioning } from '../lib/host/hygiene.ts';
import { mountsUnder } from '../lib/host/mountinfo.ts';
import { IPAM_DIR, removeNetworksNamed } from '../lib/host/networks.ts';
import { HOST_LIB_DIR, REPO_ROOT, SOLUTIONS_DIR } from '../lib/paths.ts';
import { buildRootfs } from '../solutions/01-bundle/rootfs.ts';
import { AttachmentCache } from '../solutions/06-networking/cache.ts';
import { addNetwork, deleteNetwork, deletePlugins } from '../solutions/06-networking/cni.ts';
import { NetworkConfigDir, type NetworkConfigList } from '../solutions/06-networking/conflist.ts';
import { createNetns, removeNetns } from '../solutions/06-networking/netns.ts';
import type { CniResult } from '../solutions/06-networking/plugin.ts';
import {
  BASE,
  BENCH_ID,
  cleanup as cleanupLikeShimBench,
  CGROUP,
  fmt,
  lpad,
  machineLine,
  median,
  now,
  pad,
  printTotals,
  run,
  runAsProgram,
  stopByPid,
  versionOf,
  waitFor,
  type Result,
} from './shim.ts';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
    sweep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);

const CONMAN = path.join(SOLUTIONS_DIR, '06-networking', 'conman');
const CONMAND = path.join(SOLUTIONS_DIR, '06-networking', 'conmand');
const CNI_PATH = ['/usr/lib/cni'];
/** Network and bridge (14 characters: a bridge name may have 15). */
const NET = `cmwbench${BENCH_ID.replace(/^bench-/, '')}`;
const ROOTFS = path.join(BASE, 'rootfs');
const CONF_DIR = path.join(BASE, 'net.d');
const CONMAN_ROOT = path.join(BASE, 'conman', 'lib');
const CONMAN_RUN_ROOT = path.join(BASE, 'conman', 'run'); // sockets, runc state, namespace files: no rootfs
const CONMAND_LOG = path.join(BASE, 'conman', 'conmand.log');
/** The namespace files and result caches of (c) and (d). */
const DIRECT = path.join(BASE, 'direct');
/** Exists while the run may leave something; removed as the clean-up's last step (the guard looks). */
const MARKER = path.join(BASE, 'cleanup-pending');

/** Set once the clean-up begins: nothing new may start after it. */
let aborted = false;
/** Work in progress, which the clean-up lets finish (or fail) before it undoes anything. */
const inflight = new Set<Promise<unknown>>();

function tracked<T>(work: Promise<T>): Promise<T> {
  inflight.add(work);
  work.then(
    () => inflight.delete(work),
    () => inflight.delete(work),
  );
  return work;
}

function notAborted(): void {
  if (aborted) throw new Error('interrupted');
}

// ---------------------------------------------------------------------------------------
// The network of this run

let subnet = '';

/** 10.233.N.0/24 with an N that no route of the host (any table) mentions. */
function unusedSubnet(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  const taken = new Set(Array.from(routes.matchAll(/\b10\.233\.(\d+)\./g), (m) => Number(m[1])));
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter((n) => !taken.has(n));
  if (free.length === 0) throw new Error('every 10.233.N.0/24 is routed on this host already');
  return `10.233.${free[randomInt(free.length)]}.0/24`;
}

/** The settings conmand and conman read (as the lesson's env.sh sets them). */
function conmanSettings(): Record<string, string> {
  return {
    CONMAN_ROOT,
    CONMAN_RUN_ROOT,
    CONMAN_SOCKET: path.join(CONMAN_RUN_ROOT, 'conmand.sock'),
    CONMAN_CGROUP_PARENT: `/${CGROUP}`,
    CONMAN_CNI_CONF_DIR: CONF_DIR,
    CONMAN_CNI_PATH: CNI_PATH.join(':'),
    CONMAN_DEFAULT_NETWORK: NET,
    CONMAN_DEFAULT_BRIDGE: NET,
    CONMAN_DEFAULT_SUBNET: subnet,
  };
}

// ---------------------------------------------------------------------------------------
// conmand and the conman CLI (process.env carries the settings to both)

let conmand: ChildProcess | undefined;

const conmandGone = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function conman(args: string[], timeoutMs = 60_000): Promise<Result & { ms: number }> {
  notAborted();
  const t0 = now();
  const result = await tracked(run(CONMAN, args, timeoutMs));
  return { ...result, ms: now() - t0 };
}

async function conmanOk(args: string[]): Promise<Result & { ms: number }> {
  const result = await conman(args);
  if (result.code !== 0) throw new Error(`conman ${args.join(' ')} exited ${result.code}: ${(result.stderr || result.stdout).trim()}`);
  return result;
}

async function startConmand(): Promise<void> {
  const log = fs.openSync(CONMAND_LOG, 'a');
  // Its own process group: a Ctrl-C reaches this process only, which stops conmand in order.
  const child = spawn(CONMAND, ['--root', CONMAN_ROOT, '--run-root', CONMAN_RUN_ROOT, '--cgroup-parent', `/${CGROUP}`], { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  child.on('error', () => {});
  conmand = child;
  // The first call also builds the CLI's bundle (lib/launch.mjs): allow time.
  await waitFor(
    'conmand answers `conman ps`',
    async () => {
      if (conmandGone(child)) throw new Error(`conmand exited (${child.exitCode ?? child.signalCode}): ${fs.readFileSync(CONMAND_LOG, 'utf8').trim().slice(-1500)}`);
      return (await conman(['ps'], 120_000)).code === 0;
    },
    180_000,
    200,
  );
}

async function stopConmand(): Promise<void> {
  const child = conmand;
  if (!child?.pid || conmandGone(child)) return;
  await stopByPid('conmand', child.pid, 15_000);
}

// ---------------------------------------------------------------------------------------
// Direct attachments ((c) and (d)): each on a fresh namespace; what to undo if interrupted

interface Direct {
  netns: string;
  /** DEL what was added (the clean-up calls it only when the measurement did not finish) */
  undo: () => Promise<void>;
}

const directs = new Map<string, Direct>();
let directCount = 0;

/** A fresh namespace file, the work on it, and its removal; only `work` decides what is timed. */
async function onFreshNetns<T>(work: (netns: string, id: string) => Promise<T>, undo: (netns: string, id: string) => () => Promise<void>): Promise<T> {
  notAborted();
  const id = `${NET}-d${++directCount}`;
  const netns = path.join(DIRECT, id);
  await createNetns(netns); // unshare --net=FILE true
  directs.set(id, { netns, undo: undo(netns, id) });
  const result = await tracked(work(netns, id));
  directs.delete(id);
  await removeNetns(netns);
  return result;
}

/** One plugin executed the way cnitool does it: CNI_* environment, configuration on stdin, result on stdout. */
function execDirect(type: string, env: Record<string, string>, config: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(CNI_PATH[0], type), [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      if (code === 0) resolve(text);
      else reject(new Error(`${type} ${env.CNI_COMMAND}: exit ${code}: ${text.trim()}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(config));
  });
}

interface FloorRun {
  ms: number;
  /** per plugin, "ADD bridge" → ms */
  steps: Record<string, number>;
  result: CniResult;
}

/** (c): ADD the list's plugins in order (prevResult chained), then DEL them in reverse with the ADD result. */
function floorAddDel(list: NetworkConfigList): Promise<FloorRun> {
  let added: CniResult | undefined;
  return onFreshNetns(
    async (netns, id) => {
      const env = (command: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_ARGS: '', CNI_PATH: CNI_PATH.join(':'), PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' });
      const config = (plugin: Record<string, unknown>, prevResult?: CniResult) => ({ ...plugin, cniVersion: list.cniVersion, name: list.name, ...(prevResult ? { prevResult } : {}) });
      const steps: Record<string, number> = {};
      const t0 = now();
      let mark = t0;
      const step = (name: string) => {
        const t = now();
        steps[name] = t - mark;
        mark = t;
      };
      for (const plugin of list.plugins) {
        added = JSON.parse(await execDirect(plugin.type, env('ADD'), config(plugin, added))) as CniResult;
        step(`ADD ${plugin.type}`);
      }
      for (const plugin of [...list.plugins].reverse()) {
        await execDirect(plugin.type, env('DEL'), config(plugin, added));
        step(`DEL ${plugin.type}`);
      }
      const ms = now() - t0;
      return { ms, steps, result: added! };
    },
    (netns, id) => () => deletePlugins(list, list.plugins, { containerId: id, netns, ifname: 'eth0' }, added, CNI_PATH),
  );
}

/** (d): chapter 06's addNetwork + deleteNetwork, with the result cache on disk, in this process. */
function runtimeAddDel(list: NetworkConfigList): Promise<number> {
  const cacheOf = (id: string) => new AttachmentCache(path.join(DIRECT, `${id}.cache.json`));
  return onFreshNetns(
    async (netns, id) => {
      const cache = cacheOf(id);
      const t0 = now();
      await addNetwork(list, { containerId: id, netns, ifname: 'eth0', capabilities: {} }, cache, CNI_PATH);
      await deleteNetwork(cache, CNI_PATH);
      return now() - t0;
    },
    (_netns, id) => () => deleteNetwork(cacheOf(id), CNI_PATH),
  );
}

// ---------------------------------------------------------------------------------------
// The rounds

interface Mode {
  key: 'a' | 'b' | 'c' | 'd';
  name: string;
  includes: string;
  once(): Promise<number>;
  ms: number[];
}

const floorSteps: Record<string, number[]> = {};

function modes(list: NetworkConfigList): Mode[] {
  const conmanRun = (network: string) => async () => (await conmanOk(['run', '--rm', '--network', network, ROOTFS, 'true'])).ms;
  return [
    { key: 'a', name: 'conman run --rm --network bridge', includes: 'CLI process + conmand: create, netns, lo + the 4 plugins ADD, shim, exit, DEL, rm', once: conmanRun('bridge'), ms: [] },
    { key: 'b', name: 'conman run --rm --network none', includes: 'the same with the loopback plugin only', once: conmanRun('none'), ms: [] },
    {
      key: 'c',
      name: 'plugins direct ADD+DEL (floor)',
      includes: `${list.plugins.map((p) => p.type).join(', ')}: ADD in order, DEL in reverse; spawned from here`,
      async once() {
        const floor = await floorAddDel(list);
        if (!floor.result.ips?.some((ip) => ip.address.startsWith(subnet.replace(/0\/24$/, '')))) throw new Error(`the floor's ADD gave no address in ${subnet}: ${JSON.stringify(floor.result)}`);
        for (const [name, ms] of Object.entries(floor.steps)) (floorSteps[name] ??= []).push(ms);
        return floor.ms;
      },
      ms: [],
    },
    { key: 'd', name: 'chapter 06 addNetwork+deleteNetwork', includes: 'cni.ts in this process: the same plugins + the cache (2 fsync\'d writes, read, remove)', once: () => runtimeAddDel(list), ms: [] },
  ];
}

async function measure(all: Mode[]): Promise<void> {
  for (let round = 0; round <= RUNS; round++) {
    for (let k = 0; k < all.length; k++) {
      const mode = all[(k + round) % all.length]; // the order rotates each round
      const ms = await mode.once();
      if (round > 0) mode.ms.push(ms); // round 0 warms caches and the plugins' first iptables chains
    }
    if (round === 0) for (const name of Object.keys(floorSteps)) floorSteps[name] = [];
    process.stderr.write(round === 0 ? 'w' : '.');
  }
  process.stderr.write('\n');
}

// ---------------------------------------------------------------------------------------
// Clean-up, the guard, and the check of what is left

let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    aborted = true;
    const complain = (what: string) => (error: unknown) => console.error(`cleanup: ${what}: ${(error as Error).message ?? error}`);
    await Promise.race([Promise.allSettled([...inflight]), new Promise((resolve) => setTimeout(resolve, 60_000).unref())]);
    // 1. What (c) or (d) attached and did not detach (an interruption between ADD and DEL).
    for (const [id, direct] of directs) {
      await direct.undo().catch(complain(`DEL of ${id}`));
      await removeNetns(direct.netns).catch(complain(`netns ${direct.netns}`));
    }
    directs.clear();
    // 2. Containers conmand still has (a run interrupted half-way), then conmand itself.
    if (conmand && !conmandGone(conmand)) {
      const listed = await run(CONMAN, ['ps', '-a', '-q'], 60_000).catch(() => undefined);
      for (const id of listed?.stdout.split('\n').filter(Boolean) ?? []) {
        const removed = await run(CONMAN, ['rm', '-f', id], 60_000).catch((error: Error) => ({ code: 1, stdout: '', stderr: error.message }));
        if (removed.code !== 0) complain(`conman rm -f ${id}`)(new Error(removed.stderr.trim()));
      }
    }
    await stopConmand().catch(complain('stop conmand'));
    // 3. The network, the proper way (its bridge and lease folder); refused while a lease is left.
    if (fs.existsSync(path.join(CONF_DIR, `${NET}.conflist`))) {
      const removed = await run(CONMAN, ['network', 'rm', NET], 60_000).catch((error: Error) => ({ code: 1, stdout: '', stderr: error.message }));
      if (removed.code !== 0) complain(`conman network rm ${NET}`)(new Error(removed.stderr.trim()));
    }
    // 4. bench/shim.ts's: processes naming the folder, cgroups, mounts (namespace files), the folder.
    await cleanupLikeShimBench(opts.keep);
    // 5. The safety net: anything of the network that the steps above missed.
    const swept = removeNetworksNamed(NET);
    if (swept.length) console.error(`cleanup: the safety net found and removed: ${swept.join('; ')}`);
    fs.rmSync(MARKER, { force: true });
  })();
  return cleaning;
}

/**
 * A detached shell, in its own session (a Ctrl-C does not reach it), that waits for this
 * process to end; if the clean-up did not finish (the marker is still there: this process was
 * SIGKILLed), it runs this file with --sweep. What it needs comes in its environment: no
 * command line of it names the folder (the clean-up kills the processes that do).
 */
function startGuard(): void {
  fs.writeFileSync(MARKER, '');
  const script = 'while kill -0 "$BENCH_PID" 2>/dev/null; do sleep 0.5; done; [ -e "$SWEEP_MARKER" ] && exec "$BENCH_TSX" "$BENCH_SELF" --sweep';
  const guard = spawn('sh', ['-c', script], {
    detached: true,
    stdio: 'ignore',
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      BENCH_PID: String(process.pid),
      BENCH_TSX: path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      BENCH_SELF: fileURLToPath(import.meta.url),
      SWEEP_DIR: BASE,
      SWEEP_MARKER: MARKER,
      SWEEP_CGROUP: CGROUP,
      SWEEP_NET: NET,
      SWEEP_KEEP: opts.keep ? '1' : '0',
    },
  });
  guard.on('error', () => {});
  guard.unref();
}

/** --sweep: the guard's clean-up after a SIGKILL, by PID, mount point and name only (no plugin runs). */
async function sweep(): Promise<void> {
  const { SWEEP_DIR: dir = '', SWEEP_CGROUP: cgroup = '', SWEEP_NET: net = '', SWEEP_MARKER: marker = '' } = process.env;
  if (!dir.startsWith(`${HOST_LIB_DIR}/bench-`) || !net.startsWith('cmwbench') || !cgroup.includes('/bench-')) throw new Error('--sweep is run by the benchmark\'s guard, with SWEEP_DIR, SWEEP_CGROUP and SWEEP_NET set');
  for (const pid of processesMentioning(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  await removeCgroupTree(cgroup).catch(() => []);
  for (const mount of mountsUnder(dir)) execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
  removeNetworksNamed(net);
  if (process.env.SWEEP_KEEP === '1') fs.rmSync(marker, { force: true });
  else fs.rmSync(dir, { recursive: true, force: true });
}

/** iptables rules naming a cmwbench network, or an address of this run's subnet. */
function ruleTraces(): string[] {
  const prefix = subnet ? ` ${subnet.replace(/0\/24$/, '')}` : undefined;
  return execFileSync('iptables-save', { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes('cmwbench') || (prefix !== undefined && line.startsWith('-A ') && line.includes(prefix)));
}

let reported = false;

function reportLeftovers(): void {
  if (reported) return;
  reported = true;
  const left = [
    ...processesMentioning(BASE).map((pid) => `process ${pid}`),
    ...mountsUnder(BASE).map((mount) => `mount ${mount}`),
    ...(!opts.keep && fs.existsSync(BASE) ? [`folder ${BASE}`] : []),
    ...cgroupDirs(CGROUP).map((dir) => `cgroup ${dir}`),
    ...(fs.existsSync(`/sys/class/net/${NET}`) ? [`bridge ${NET}`] : []),
    ...(fs.existsSync(path.join(IPAM_DIR, NET)) ? [`lease folder ${path.join(IPAM_DIR, NET)}`] : []),
    ...ruleTraces().map((line) => `iptables rule ${line}`),
  ];
  if (left.length) {
    console.log(`LEFT BEHIND: ${left.join('; ')}`);
    process.exitCode = 1;
  } else {
    console.log(`after cleanup: no process names ${BASE}, no mount under it, no cgroup, no bridge ${NET}, no lease folder, \`iptables-save | grep -c cmwbench\` = 0; ${opts.keep ? 'the folder is kept (--keep)' : 'the folder is gone'}`);
  }
}

// ---------------------------------------------------------------------------------------
// Main

const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();

/** The q-quantile of xs, interpolated between the two nearest values. */
function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((x, y) => x - y);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: network namespaces, bridges, iptables');
  if (!(Number.isInteger(RUNS) && RUNS > 0)) throw new Error('--runs takes a whole number > 0');
  for (const tool of ['/usr/sbin/runc', '/usr/bin/unshare', '/usr/sbin/iptables-save', path.join(CNI_PATH[0], 'bridge')]) {
    if (!fs.existsSync(tool)) throw new Error(`${tool} is missing (apt-get install runc util-linux iptables containernetworking-plugins)`);
  }
  const startedAt = Date.now();
  const loadAtStart = os.loadavg()[0];
  const uptimeAtStart = uptime();
  subnet = unusedSubnet();
  Object.assign(process.env, conmanSettings());
  fs.mkdirSync(path.dirname(CONMAND_LOG), { recursive: true, mode: 0o700 });
  fs.mkdirSync(DIRECT, { recursive: true, mode: 0o700 });
  startGuard();

  console.log('conman benchmark: the cost of a CNI network per container (chapter 06) against the plugins\' own time');
  console.log(machineLine());
  console.log(`software  node ${process.version}, containernetworking-plugins ${versionOf('dpkg-query', ['-W', '-f=${Version}', 'containernetworking-plugins'], /^(\S+)/)}, runc ${versionOf('/usr/sbin/runc', ['--version'], /runc version (\S+)/)}`);
  console.log(`run       ${BENCH_ID}: ${RUNS} rounds (+1 warm-up dropped), the 4 modes in a rotating order; network ${NET} (bridge ${NET}, ${subnet}); uptime: ${uptimeAtStart}`);

  process.stderr.write('setup: rootfs, conmand (builds the programs on first use), the default network...\n');
  await buildRootfs(ROOTFS);
  await startConmand();
  const withBridge = await conmanOk(['run', '--rm', '--network', 'bridge', ROOTFS, 'ls', '/sys/class/net']);
  const withNone = await conmanOk(['run', '--rm', '--network', 'none', ROOTFS, 'ls', '/sys/class/net']);
  const interfaces = (text: string) => text.split(/\s+/).filter(Boolean).sort().join(' ');
  if (interfaces(withBridge.stdout) !== 'eth0 lo' || interfaces(withNone.stdout) !== 'lo') {
    throw new Error(`unexpected interfaces: bridge "${interfaces(withBridge.stdout)}", none "${interfaces(withNone.stdout)}"`);
  }
  const list = new NetworkConfigDir(CONF_DIR).find(NET);
  if (!list) throw new Error(`conman wrote no list for ${NET} in ${CONF_DIR}`);
  console.log(`network   ${path.join(CONF_DIR, `${NET}.conflist`)} (written by conman's first run): ${list.plugins.map((p) => p.type).join(' -> ')}`);

  process.stderr.write(`${RUNS + 1} rounds `);
  const all = modes(list);
  await measure(all);
  const leases = fs.existsSync(path.join(IPAM_DIR, NET)) ? fs.readdirSync(path.join(IPAM_DIR, NET)).filter((name) => /^\d+\.\d+\.\d+\.\d+$/.test(name)) : [];

  const [a, b, c, d] = all;
  const m = (mode: Mode) => median(mode.ms);
  const cost = m(a) - m(b);
  const perRound = a.ms.map((ms, i) => ms - b.ms[i]);
  console.log(`\n1. One container \`true\` / one ADD+DEL, ms, median of ${RUNS} interleaved rounds`);
  console.log(`   ${pad('', 42)}${lpad('median', 8)}${lpad('min', 8)}${lpad('max', 8)}   includes`);
  for (const mode of all) {
    console.log(`   ${pad(`(${mode.key}) ${mode.name}`, 42)}${lpad(fmt(m(mode)), 8)}${lpad(fmt(Math.min(...mode.ms)), 8)}${lpad(fmt(Math.max(...mode.ms)), 8)}   ${mode.includes}`);
  }
  console.log(`   the floor per plugin (median): ${Object.entries(floorSteps).map(([name, ms]) => `${name} ${fmt(median(ms))}`).join(', ')}`);

  console.log('\n2. The cost of CNI per container');
  console.log(`   (a) − (b)                       ${lpad(fmt(cost), 7)} ms   (per-round differences: median ${fmt(median(perRound))}, min ${fmt(Math.min(...perRound))}, max ${fmt(Math.max(...perRound))})`);
  console.log(`   × the plugins' own time (c)     ${lpad(fmt(cost / m(c), 2), 7)}×    (${fmt(cost)} vs ${fmt(m(c))} ms: conman's overhead ${fmt(cost - m(c))} ms)`);
  console.log(`   (d) / (c): the library alone    ${lpad(fmt(m(d) / m(c), 2), 7)}×    (${fmt(m(d))} vs ${fmt(m(c))} ms: ${fmt(m(d) - m(c))} ms for the cache, plugin lookup and spawning through execPlugin)`);
  console.log(`   What (a) − (b) contains: the default list found and parsed, the network's ${list.plugins.length} plugins (${list.plugins.map((p) => p.type).join(', ')}) ADD and DEL,`);
  console.log(`   the result cache written twice with fsync and removed, the address in the record. Both modes make and remove the`);
  console.log(`   namespace, ADD/DEL loopback and write the same /etc files (hosts, hostname, resolv.conf).`);
  console.log(`   leases left on ${NET} after the rounds: ${leases.length}${leases.length ? ` (${leases.join(', ')})` : ''}`);
  const met = cost <= 1.2 * m(c);
  // How firm: where the 1.2× line falls among the per-round differences (their middle half).
  const [q1, q3] = [quantile(perRound, 0.25), quantile(perRound, 0.75)];
  const line = 1.2 * m(c);
  const firmness =
    q3 <= line ? 'firm: three quarters of the per-round differences are under the line' : q1 > line ? 'firm: three quarters of the per-round differences are over the line' : `not firm: the middle half of the per-round differences (${fmt(q1)} to ${fmt(q3)} ms) straddles the line (${fmt(line)} ms)`;
  console.log(`\n   goal ≤ 1.2×: ${met ? 'met' : 'not met'} (${fmt(cost / m(c), 2)}×; ${firmness})`);

  printTotals(startedAt, loadAtStart);
  console.log(`uptime at the start: ${uptimeAtStart}\nuptime at the end:   ${uptime()}`);
}

if (opts.sweep) await sweep();
else await runAsProgram(main, cleanup, reportLeftovers);
