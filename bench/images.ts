/**
 * Benchmark: chapter 05's image puller against containerd, skopeo + umoci and GNU tar, on the
 * same one-layer image from a local registry, in one run.
 *
 *   npx tsx bench/images.ts               (as root; ≈ 2-3 minutes)
 *   npm run bench:images
 *
 * Setup: Debian's docker-registry on a free 127.0.0.1 port (own config and storage), and two
 * images made from this machine's own files, each one layer, in an OCI layout by umoci
 * (`umoci init/new/raw add-layer`: umoci gzips the tar) and pushed with skopeo:
 *   docs   /usr/lib/python3 + folders of /usr/share/doc until ≈ 50 MiB unpacked (thousands of files);
 *   zeros  one file of 1 GiB of zeros (dd), tar'd; gzip makes ≈ 1 MiB of it.
 *
 * What it measures:
 *   1. pull + unpack of "docs", rounds interleaved across the tools (the order rotates each
 *      round; one warm-up round dropped), median; `sync` before each run (not timed), a fresh
 *      target each run:
 *        conman      `node lib/launch.mjs solutions/05-images/conman.ts --root FRESH pull -q
 *                    --insecure-registry HOST REF`: the CLI (precompiled, as a user runs it):
 *                    resolve, download + verify, unpack into a snapshot, record;
 *        containerd  `ctr --address SOCK pull --plain-http REF` against a private containerd
 *                    (bench/shim.ts's: own config, socket, root, state; stopped by its PID);
 *                    ctr pull unpacks into the overlayfs snapshotter. Between runs the image,
 *                    its content and snapshots go (`ctr images rm --sync`, checked);
 *        skopeo+umoci `skopeo copy docker://REF oci:FRESH/layout:bench` + `umoci unpack`;
 *        GNU tar     `gzip -dc BLOB | tar -x -C FRESH` of the same layer blob: the floor, and
 *                    the reference every ratio is to.
 *   2. peak RSS pulling "zeros" (1 GiB unpacked): conman's CLI process (VmHWM of
 *      /proc/PID/status, sampled every 10 ms while it runs: the high-water mark only grows),
 *      and containerd's daemon (its VmHWM reset with `echo 5 > /proc/PID/clear_refs` just
 *      before, read after) and the ctr client process (sampled like conman's).
 *
 * Options: --runs N (3)  --keep (leave the folder for inspection).
 *
 * Everything lives under /var/lib/conman-workshop/bench-<random>/ (bench/shim.ts's folder and
 * clean-up): the registry and containerd are stopped by their PIDs, then processes naming the
 * folder, mounts and the folder go, at the end, after a failure and after a Ctrl-C. Network:
 * 127.0.0.1 only. (skopeo, run as root, updates its shared cache
 * /var/lib/containers/cache/blob-info-cache-v1.boltdb as the tests' skopeo does.)
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { processesMentioning } from '../lib/host/hygiene.ts';
import { mountsUnder } from '../lib/host/mountinfo.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import {
  BASE,
  BENCH_ID,
  cleanup as cleanupLikeShimBench,
  CONTAINERD,
  CTR,
  ctrArgs,
  fmt,
  lpad,
  machineLine,
  median,
  must,
  now,
  pad,
  printTotals,
  runAsProgram,
  startContainerd,
  versionOf,
} from './shim.ts';
import { REGISTRY, startBenchRegistry, type BenchRegistry } from './registry.ts';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);

const UMOCI = '/usr/bin/umoci';
const SKOPEO = '/usr/bin/skopeo';
const LAUNCH = path.join(REPO_ROOT, 'lib', 'launch.mjs');
const CONMAN_TS = path.join(REPO_ROOT, 'solutions', '05-images', 'conman.ts');
const TARGET_MIB = 50;

const WORK = path.join(BASE, 'images');
const LAYOUT = path.join(WORK, 'layout');
const RUNS_DIR = path.join(BASE, 'runs'); // each run's fresh target, removed after it

/** Set once the cleanup begins: nothing new may start after it. */
let aborted = false;

// ---------------------------------------------------------------------------------------
// A process, timed, with its peak RSS

interface Timed {
  ms: number;
  /** VmHWM of the process (KiB), last sample before it exited */
  hwm: number;
  stdout: string;
}

function statusField(pid: number, field: string): number {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Run `cmd args` to the end (throws unless it exits 0), sampling its VmHWM every 10 ms. */
function timedProcess(cmd: string, args: string[], timeoutMs = 300_000): Promise<Timed> {
  if (aborted) return Promise.reject(new Error('interrupted'));
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hwm = 0;
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const sample = () => {
      const value = statusField(child.pid ?? 0, 'VmHWM');
      if (value > hwm) hwm = value;
    };
    const sampler = setInterval(sample, 10);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearInterval(sampler);
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', () => {
      const ms = now() - t0;
      clearInterval(sampler);
      clearTimeout(timer);
      child.on('close', (code, signal) => {
        if (code !== 0) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${code ?? signal}): ${(stderr || stdout).trim().slice(-2000)}`));
        else resolve({ ms, hwm, stdout });
      });
    });
  });
}

// ---------------------------------------------------------------------------------------
// The registry: Debian's docker-registry on a free loopback port, stopped by its PID

let registry: BenchRegistry | undefined;
let registryHost = '';

async function startRegistry(): Promise<void> {
  registry = await startBenchRegistry(path.join(BASE, 'registry'));
  registryHost = registry.host;
}

async function stopRegistry(): Promise<void> {
  await registry?.stop();
}

// ---------------------------------------------------------------------------------------
// The images

interface Image {
  ref: string;
  /** the layer blob (gzip) in the OCI layout */
  blob: string;
  blobBytes: number;
  unpackedBytes: number;
  entries: number;
}

const du = (dir: string) => Number(execFileSync('du', ['-sb', '--apparent-size', dir], { encoding: 'utf8' }).split('\t')[0]);

/** A one-layer image of the tar at `layerTar` in the layout under tag `tag`, pushed as bench/<tag>:v1. */
async function makeImage(tag: string, layerTar: string, unpackedBytes: number, entries: number): Promise<Image> {
  await must(UMOCI, ['new', '--image', `${LAYOUT}:${tag}`]);
  await must(UMOCI, ['raw', 'add-layer', '--image', `${LAYOUT}:${tag}`, layerTar], 300_000);
  fs.rmSync(layerTar);
  const index = JSON.parse(fs.readFileSync(path.join(LAYOUT, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`umoci: no tag ${tag} in ${LAYOUT}`);
  const blobPath = (digest: string) => path.join(LAYOUT, 'blobs', 'sha256', digest.slice(7));
  const manifest = JSON.parse(fs.readFileSync(blobPath(entry.digest), 'utf8')) as { layers: { digest: string; size: number; mediaType: string }[] };
  if (manifest.layers.length !== 1 || !manifest.layers[0].mediaType.endsWith('+gzip')) throw new Error(`${tag}: expected one gzip layer, got ${JSON.stringify(manifest.layers)}`);
  const ref = `${registryHost}/bench/${tag}:v1`;
  await must(SKOPEO, ['copy', '--quiet', `oci:${LAYOUT}:${tag}`, `docker://${ref}`, '--dest-tls-verify=false'], 300_000);
  return { ref, blob: blobPath(manifest.layers[0].digest), blobBytes: manifest.layers[0].size, unpackedBytes, entries };
}

/** /usr/lib/python3 + folders of /usr/share/doc (in name order) until ≈ TARGET_MIB MiB. */
async function docsImage(): Promise<Image> {
  const src = path.join(WORK, 'docs-src');
  fs.mkdirSync(path.join(src, 'usr', 'lib'), { recursive: true });
  fs.mkdirSync(path.join(src, 'usr', 'share', 'doc'), { recursive: true });
  await must('cp', ['-a', '/usr/lib/python3', path.join(src, 'usr', 'lib')], 120_000);
  let total = du(src);
  for (const name of fs.readdirSync('/usr/share/doc').sort()) {
    if (total >= TARGET_MIB * 2 ** 20) break;
    const from = path.join('/usr/share/doc', name);
    const size = du(from);
    if (total + size > (TARGET_MIB + 2) * 2 ** 20) continue; // not past ≈ 50 MiB
    await must('cp', ['-a', from, path.join(src, 'usr', 'share', 'doc')], 120_000);
    total += size;
  }
  const entries = Number(execFileSync('sh', ['-c', 'find "$1" -mindepth 1 | wc -l', 'sh', src], { encoding: 'utf8' }).trim());
  const unpacked = du(src);
  const tarFile = path.join(WORK, 'docs.tar');
  await must('tar', ['-C', src, '-cf', tarFile, '.'], 120_000);
  fs.rmSync(src, { recursive: true, force: true });
  return makeImage('docs', tarFile, unpacked, entries);
}

/** One file of 1 GiB of zeros (dd), tar'd; umoci gzips it (≈ 1 MiB). */
async function zerosImage(): Promise<Image> {
  const src = path.join(WORK, 'zeros-src');
  fs.mkdirSync(src, { recursive: true });
  await must('dd', ['if=/dev/zero', `of=${path.join(src, 'zeros')}`, 'bs=1M', 'count=1024', 'status=none'], 120_000);
  const tarFile = path.join(WORK, 'zeros.tar');
  await must('tar', ['-C', src, '-cf', tarFile, '.'], 120_000);
  fs.rmSync(src, { recursive: true, force: true });
  return makeImage('zeros', tarFile, 2 ** 30, 2);
}

// ---------------------------------------------------------------------------------------
// The tools: each run gets a fresh target, removed (untimed) after it

let runCount = 0;
const freshDir = () => {
  const dir = path.join(RUNS_DIR, `r${++runCount}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
};
/** Asynchronous: the event loop stays free (tsx SIGKILLs a child that does not acknowledge a Ctrl-C within 30 ms). */
const removeDir = (dir: string) => fs.promises.rm(dir, { recursive: true, force: true });

interface Tool {
  name: string;
  includes: string;
  pull(image: Image): Promise<Timed>;
}

async function conmanPull(image: Image): Promise<Timed> {
  const root = freshDir();
  try {
    const result = await timedProcess(process.execPath, [LAUNCH, CONMAN_TS, '--root', root, 'pull', '-q', '--insecure-registry', registryHost, image.ref]);
    const records = JSON.parse(fs.readFileSync(path.join(root, 'images', 'images.json'), 'utf8')) as { chainId: string }[];
    const top = path.join(root, 'images', 'snapshots', records[0].chainId.slice(7), 'fs');
    if (!fs.existsSync(top) || fs.readdirSync(top).length === 0) throw new Error(`conman pull: no unpacked snapshot at ${top}`);
    return result;
  } finally {
    await removeDir(root);
  }
}

let ctdPid = 0;

async function ctrPull(image: Image): Promise<Timed> {
  try {
    return await timedProcess(CTR, ctrArgs('images', 'pull', '--plain-http', image.ref));
  } finally {
    await must(CTR, ctrArgs('images', 'rm', '--sync', image.ref), 120_000).catch(() => '');
    const [content, snapshots] = [await must(CTR, ctrArgs('content', 'ls', '-q')), await must(CTR, ctrArgs('snapshots', 'ls'))];
    const leftSnapshots = snapshots.split('\n').slice(1).filter((l) => l.trim());
    if (content.trim() || leftSnapshots.length) throw new Error(`containerd kept content (${content.trim().split('\n').length}) or snapshots (${leftSnapshots.length}) after images rm --sync`);
  }
}

async function skopeoUmoci(image: Image): Promise<Timed> {
  const dir = freshDir();
  try {
    const t0 = now();
    const copy = await timedProcess(SKOPEO, ['copy', '--quiet', '--src-tls-verify=false', `docker://${image.ref}`, `oci:${dir}/layout:bench`]);
    const unpack = await timedProcess(UMOCI, ['unpack', '--image', `${dir}/layout:bench`, `${dir}/bundle`]);
    return { ms: now() - t0, hwm: Math.max(copy.hwm, unpack.hwm), stdout: '' };
  } finally {
    await removeDir(dir);
  }
}

async function gnuTar(image: Image): Promise<Timed> {
  const dir = freshDir();
  try {
    return await timedProcess('sh', ['-c', 'gzip -dc "$1" | tar -x -C "$2"', 'sh', image.blob, dir]);
  } finally {
    await removeDir(dir);
  }
}

const TAR = 'GNU tar (gzip -dc | tar -x)';
const CONMAN = 'conman pull (chapter 05)';
const TOOLS: Tool[] = [
  { name: TAR, includes: 'the layer blob from the local disk: no registry, no digest check', pull: gnuTar },
  { name: CONMAN, includes: 'node CLI: resolve, download + sha256, unpack into a snapshot, record', pull: conmanPull },
  { name: 'ctr pull (containerd)', includes: 'ctr + containerd: fetch into content store, unpack into overlayfs snapshot', pull: ctrPull },
  { name: 'skopeo copy + umoci unpack', includes: 'two processes: docker:// -> oci: layout, then unpack to a bundle', pull: skopeoUmoci },
];

interface Measured {
  tool: Tool;
  ms: number[];
  hwm: number[];
}

async function measurePulls(image: Image): Promise<Measured[]> {
  const results = TOOLS.map((tool) => ({ tool, ms: [] as number[], hwm: [] as number[] }));
  for (let round = 0; round <= RUNS; round++) {
    for (let k = 0; k < results.length; k++) {
      const result = results[(k + round) % results.length]; // the order rotates each round
      await must('sync', [], 120_000);
      const timed = await result.tool.pull(image);
      if (round === 0) continue; // warm-up: page cache, the compiled CLI, containerd's first pull
      result.ms.push(timed.ms);
      result.hwm.push(timed.hwm);
    }
    process.stderr.write(round === 0 ? 'w' : '.');
  }
  process.stderr.write('\n');
  return results;
}

interface RssResult {
  conman: Timed;
  ctr: Timed;
  /** containerd's VmHWM (KiB) reset just before ctr pull, read after it; and its VmRSS before */
  containerdHwm: number;
  containerdRssBefore: number;
}

async function measureRss(zeros: Image): Promise<RssResult> {
  await must('sync', [], 120_000);
  const conman = await conmanPull(zeros);
  await must('sync', [], 120_000);
  const containerdRssBefore = statusField(ctdPid, 'VmRSS');
  fs.writeFileSync(`/proc/${ctdPid}/clear_refs`, '5'); // VmHWM := VmRSS now
  const ctr = await timedProcess(CTR, ctrArgs('images', 'pull', '--plain-http', zeros.ref));
  const containerdHwm = statusField(ctdPid, 'VmHWM');
  await must(CTR, ctrArgs('images', 'rm', '--sync', zeros.ref), 120_000);
  return { conman, ctr, containerdHwm, containerdRssBefore };
}

// ---------------------------------------------------------------------------------------
// Cleanup

/**
 * A guard for the one case our own cleanup cannot handle: this process killed with SIGKILL.
 * (tsx relays a Ctrl-C to its node child and SIGKILLs it when the child does not acknowledge
 * within 30 ms: on a loaded machine that happens.) A detached shell, in its own session so a
 * Ctrl-C does not reach it, waits for this process to go, then kills the processes whose
 * command line names our folder (containerd, the registry, a pull in progress), by PID,
 * unmounts what is under the folder and removes it. After a normal end it finds nothing.
 * The folder is passed in the environment: the guard's own command line does not name it.
 */
const GUARD = `
while kill -0 "$MAIN_PID" 2>/dev/null; do sleep 0.5; done
[ -d "$GUARD_DIR" ] || exit 0
for p in /proc/[0-9]*; do
  pid=\${p#/proc/}
  [ "$pid" = "$$" ] && continue
  c=$(tr '\\0' ' ' < "$p/cmdline" 2>/dev/null) || continue
  case "$c" in *"$GUARD_DIR"*) kill -9 "$pid" 2>/dev/null ;; esac
done
sleep 0.5
awk -v d="$GUARD_DIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
[ "$KEEP" = 1 ] || rm -rf "$GUARD_DIR"
`;

function startGuard(): void {
  const guard = spawn('sh', ['-c', GUARD], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', MAIN_PID: String(process.pid), GUARD_DIR: BASE, KEEP: opts.keep ? '1' : '0' },
  });
  guard.on('error', () => {});
  guard.unref();
}

let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    aborted = true;
    try {
      await stopRegistry();
    } catch (error) {
      console.error(`cleanup: docker-registry: ${(error as Error).message}`);
    }
    // containerd (by PID), processes naming the folder, cgroups, mounts, the folder.
    await cleanupLikeShimBench(opts.keep);
  })();
  return cleaning;
}

let reported = false;

function reportLeftovers(): void {
  if (reported) return;
  reported = true;
  const found: string[] = [];
  for (const pid of processesMentioning(BASE)) found.push(`process ${pid}`);
  for (const mount of mountsUnder(BASE)) found.push(`mount ${mount}`);
  if (!opts.keep && fs.existsSync(BASE)) found.push(`folder ${BASE}`);
  console.log(found.length ? `LEFT BEHIND: ${found.join(', ')}` : `after cleanup: no process names ${BASE}, no mount under it, ${opts.keep ? 'the folder is kept (--keep)' : 'the folder is gone'}`);
  if (found.length) process.exitCode = 1;
}

// ---------------------------------------------------------------------------------------
// Main

const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const mib = (bytes: number) => `${fmt(bytes / 2 ** 20)} MiB`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: containerd, unpacking with owners');
  for (const tool of [CONTAINERD, CTR, UMOCI, SKOPEO, REGISTRY]) {
    if (!fs.existsSync(tool)) throw new Error(`${tool} is missing (apt-get install containerd umoci skopeo docker-registry)`);
  }
  if (!(Number.isInteger(RUNS) && RUNS > 0)) throw new Error('--runs takes a whole number > 0');
  const startedAt = Date.now();
  const loadAtStart = os.loadavg()[0];
  const uptimeAtStart = uptime();
  console.log('conman benchmark: image pull + unpack, chapter 05 vs containerd vs skopeo+umoci vs GNU tar');
  console.log(machineLine());
  console.log(
    `software  node ${process.version}, containerd ${versionOf(CONTAINERD, ['--version'], /containerd \S+ (\S+)/)}, skopeo ${versionOf(SKOPEO, ['--version'], /skopeo version (\S+)/)}, umoci ${versionOf(UMOCI, ['--version'], /umoci version (\S+)/)}, ${versionOf('tar', ['--version'], /^(tar .*)$/m)}`,
  );
  console.log(`run       ${BENCH_ID}: ${RUNS} rounds (+1 warm-up dropped), interleaved; uptime: ${uptimeAtStart}`);

  fs.mkdirSync(RUNS_DIR, { recursive: true, mode: 0o700 });
  startGuard();
  process.stderr.write('setup: registry, containerd, conman CLI compiled, images (≈ 1 min)...\n');
  await startRegistry();
  await startContainerd();
  // bench/shim.ts keeps its ChildProcess to itself: find the daemon by its command line (our folder).
  ctdPid = processesMentioning(BASE).find((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === CONTAINERD) ?? 0;
  if (!ctdPid) throw new Error('cannot find the private containerd PID');
  await must(process.execPath, [LAUNCH, CONMAN_TS, '--help'], 120_000); // lib/launch.mjs builds (or checks) the program, outside the timings
  await must(UMOCI, ['init', '--layout', LAYOUT]);
  const docs = await docsImage();
  const zeros = await zerosImage();
  console.log(`image     docs: 1 layer, ${mib(docs.unpackedBytes)} unpacked, ${docs.entries} files and folders, ${mib(docs.blobBytes)} gzip; zeros: 1 GiB file, ${mib(zeros.blobBytes)} gzip; registry ${registryHost}`);

  process.stderr.write(`pull + unpack of docs, ${RUNS + 1} rounds `);
  const pulls = await measurePulls(docs);
  process.stderr.write('peak RSS: pull of zeros (1 GiB)...\n');
  const rss = await measureRss(zeros);

  const tar = median(pulls.find((p) => p.tool.name === TAR)!.ms);
  const conman = median(pulls.find((p) => p.tool.name === CONMAN)!.ms);
  console.log(`\n1. Pull + unpack of a one-layer image (${mib(docs.unpackedBytes)}, ${docs.entries} entries), seconds, median of ${RUNS} interleaved rounds`);
  console.log(`   ${pad('tool', 30)}${lpad('median', 8)}${lpad('min', 8)}${lpad('max', 8)}${lpad('× tar', 8)}${lpad('peak RSS', 11)}   includes`);
  for (const p of pulls) {
    const m = median(p.ms);
    const s = (ms: number) => fmt(ms / 1000, 2);
    console.log(`   ${pad(p.tool.name, 30)}${lpad(s(m), 8)}${lpad(s(Math.min(...p.ms)), 8)}${lpad(s(Math.max(...p.ms)), 8)}${lpad(`${fmt(m / tar, 2)}×`, 8)}${lpad(p.tool.name === TAR ? '-' : `${fmt(median(p.hwm) / 1024, 0)} MiB`, 11)}   ${p.tool.includes}`);
  }
  console.log(`   (peak RSS: the client process's VmHWM, sampled every 10 ms; skopeo+umoci: the larger of the two; ctr: containerd's daemon does\n    the writing and unpacking, not counted there, see 2.)`);
  console.log(`   goal conman ≤ 1.2× GNU tar: ${fmt(conman / tar, 2)}× -> ${conman <= 1.2 * tar ? 'MET' : 'NOT MET'}`);

  console.log(`\n2. Peak RSS pulling a layer of 1 GiB of zeros (${mib(zeros.blobBytes)} gzip)`);
  console.log(`   conman pull (the CLI process)   VmHWM ${fmt(rss.conman.hwm / 1024)} MiB   (${fmt(rss.conman.ms / 1000, 2)} s)`);
  console.log(`   containerd (the daemon)         VmHWM ${fmt(rss.containerdHwm / 1024)} MiB during the pull (reset to its VmRSS ${fmt(rss.containerdRssBefore / 1024)} MiB before), + ${fmt((rss.containerdHwm - rss.containerdRssBefore) / 1024)} MiB`);
  console.log(`   ctr pull (the client process)   VmHWM ${fmt(rss.ctr.hwm / 1024)} MiB   (${fmt(rss.ctr.ms / 1000, 2)} s for ctr pull)`);

  printTotals(startedAt, loadAtStart);
  console.log(`uptime at the start: ${uptimeAtStart}\nuptime at the end:   ${uptime()}`);
}

await runAsProgram(main, cleanup, reportLeftovers);
