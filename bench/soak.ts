/**
 * Soak: conmand killed with SIGKILL again and again, with containers running, exiting,
 * restarting and requests in flight; then the counts an operator cares about (issue 10).
 *
 *   sudo npx tsx bench/soak.ts                       (≈ 1 minute per 10 kills)
 *   npm run soak -- --containers 20 --kills 100
 *
 * Not in CI: it takes long and loads the machine. Re-run it after every chapter.
 *
 * The containers, M in all (default 20), in four kinds:
 *   logger    prints "seq N" every 0.1 s: its log must have every N exactly once, in order
 *   tty       -it sh, idle
 *   crasher   --restart always, exits 1 after 2 s: restarted again and again
 *   sleeper   --restart on-failure:3, sleep 600
 * Each round: a burst of requests (ps, inspect, logs, a run --rm of `true`, an exec) is sent,
 * conmand is killed with SIGKILL 0-300 ms later, started again, and must answer within 30 s.
 * Every 10th round the shim of a random `always` container is killed too.
 *
 * Counted, after every restart and at the end:
 *   lost        a container created (and not removed by us) that ps -a no longer lists
 *   corrupt     a record.json that does not parse, a *.tmp left beside one, a log line that is
 *               not a CRI record, a logger's sequence with a gap or a repeat
 *   orphaned    a runtime container (runc list) no record says is running, a record "running"
 *               whose process is gone, a shim whose container is not running any more
 *   leaked      anything left on the host once every container is removed and conmand stopped
 *               (processes, mounts, cgroups, runtime state: lib/host/hygiene.ts)
 *   daemon      a conmand that did not answer within 30 s of its start, or exited
 *   5xx         answers with a status ≥ 500 to the requests in flight (connection errors from
 *               the kill itself are expected, and counted apart)
 *
 * Everything lives under the run's folders (lib/host/hygiene.ts HostRun) and is removed at the
 * end, also on failure and Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseLog } from '../lib/cri-log.ts';
import { HostRun } from '../lib/host/hygiene.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { buildRootfs } from '../solutions/01-bundle/rootfs.ts';
import type { ContainerInfo } from '../solutions/04-manager/container-api.ts';

const { values: opts } = parseArgs({
  options: {
    containers: { type: 'string', default: '20' },
    kills: { type: 'string', default: '100' },
    'settle-ms': { type: 'string', default: '3000' },
  },
});
const CONTAINERS = Number(opts.containers);
const KILLS = Number(opts.kills);
const SETTLE_MS = Number(opts['settle-ms']);
const LAUNCH = path.join(REPO_ROOT, 'lib', 'launch.mjs');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (process.getuid?.() !== 0) {
  console.error('soak: run as root (containers, cgroups)');
  process.exit(1);
}

const run = new HostRun();
const root = path.join(run.dir, 'lib');
const runRoot = path.join(run.stateDir, 'm');
const socket = path.join(runRoot, 'conmand.sock');
const daemonLog = path.join(run.dir, 'conmand.log');
let daemon: ChildProcess | undefined;

const counts = { lost: 0, corrupt: 0, orphaned: 0, leaked: 0, daemon: 0, '5xx': 0, '4xx': 0, '2xx': 0, connectionErrors: 0, unknown: 0 };
const problems: string[] = [];
function problem(kind: keyof typeof counts, text: string): void {
  counts[kind] += 1;
  if (problems.length < 40) problems.push(`${kind}: ${text}`);
}

function api(method: string, url: string, body?: unknown, timeoutMs = 30_000): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request({ socketPath: socket, method, path: url, timeout: timeoutMs, headers: text ? { 'content-type': 'application/json' } : {} }, (response) => {
      let data = '';
      response.on('data', (chunk) => (data += chunk));
      // The daemon killed half-way through a body (logs): no 'end' ever comes, only 'close'.
      response.on('close', () => (response.complete ? undefined : reject(new Error('the answer was cut short'))));
      response.on('end', () => {
        let json: unknown = data;
        try {
          json = JSON.parse(data);
        } catch {
          // a log, not JSON
        }
        resolve({ status: response.statusCode ?? 0, json });
      });
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
    request.end(text);
  });
}

/** A request in flight when the daemon dies: its answer (or connection error) is counted. */
function inFlight(method: string, url: string, body?: unknown): Promise<void> {
  return api(method, url, body).then(
    ({ status, json }) => {
      if (status >= 500) problem('5xx', `${method} ${url}: ${status} ${JSON.stringify(json).slice(0, 200)}`);
      else if (status >= 400) counts['4xx'] += 1;
      else counts['2xx'] += 1;
    },
    () => void (counts.connectionErrors += 1),
  );
}

async function startDaemon(): Promise<boolean> {
  const log = fs.openSync(daemonLog, 'a');
  const args = ['--root', root, '--run-root', runRoot, '--socket', socket, '--cgroup-parent', run.cgroupParent];
  daemon = spawn(process.execPath, ['--enable-source-maps', LAUNCH, path.join(REPO_ROOT, 'solutions/04-manager/conmand.ts'), ...args], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  const child = daemon;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await api('GET', '/version', undefined, 2000).then((r) => r.status === 200, () => false)) return true;
    await sleep(50);
  }
  problem('daemon', `conmand did not answer within 30 s (exit ${child.exitCode ?? child.signalCode}); log ends: ${fs.readFileSync(daemonLog, 'utf8').split('\n').slice(-4).join(' | ')}`);
  return false;
}

async function killDaemon(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const child = daemon;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await gone;
}

const alive = (pid: number | undefined) => pid !== undefined && fs.existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
const list = async (): Promise<ContainerInfo[]> => (await api('GET', '/containers?all=1')).json as ContainerInfo[];

/** Our containers, by name → kind. */
const ours = new Map<string, 'logger' | 'tty' | 'crasher' | 'sleeper'>();

async function create(name: string, kind: 'logger' | 'tty' | 'crasher' | 'sleeper', rootfs: string): Promise<void> {
  const body = {
    logger: { args: ['sh', '-c', 'i=0; while true; do echo "seq $i"; i=$((i+1)); sleep 0.1; done'] },
    tty: { args: ['sh'], tty: true, stdin: true },
    crasher: { args: ['sh', '-c', 'sleep 2; exit 1'], restart: 'always' },
    sleeper: { args: ['sleep', '600'], restart: 'on-failure:3' },
  }[kind];
  const created = await api('POST', '/containers', { rootfs, name, ...body });
  if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.json)}`);
  const started = await api('POST', `/containers/${name}/start`);
  if (started.status !== 200) throw new Error(`start ${name}: ${started.status} ${JSON.stringify(started.json)}`);
  ours.set(name, kind);
}

/** lost and corrupt: what ps and the files on disk say. */
async function checkRecords(when: string): Promise<ContainerInfo[]> {
  const listed = await list();
  const names = new Set(listed.map((c) => c.name));
  for (const name of ours.keys()) if (!names.has(name)) problem('lost', `${name} (${when})`);
  const containersDir = path.join(root, 'containers');
  for (const id of fs.readdirSync(containersDir)) {
    const dir = path.join(containersDir, id);
    for (const file of fs.readdirSync(dir)) if (file.endsWith('.tmp')) problem('corrupt', `${dir}/${file} left (${when})`);
    try {
      JSON.parse(fs.readFileSync(path.join(dir, 'record.json'), 'utf8'));
    } catch (error) {
      if (fs.existsSync(dir)) problem('corrupt', `${dir}/record.json: ${(error as Error).message} (${when})`);
    }
  }
  return listed;
}

/** orphaned (and logs) after the dust settled. */
async function checkFinal(): Promise<void> {
  await sleep(SETTLE_MS);
  const listed = await checkRecords('at the end');
  const running = new Set(listed.filter((c) => c.status === 'running').map((c) => c.id));
  for (const c of listed) {
    if (c.status === 'unknown') counts.unknown += 1;
    if (c.status === 'running' && !alive(c.pid)) problem('orphaned', `${c.name}: record running, its process ${c.pid} is gone`);
    if (ours.get(c.name) === 'logger') {
      let records;
      try {
        records = parseLog(fs.readFileSync(c.logFile, 'utf8'));
      } catch (error) {
        problem('corrupt', `${c.name}'s log: ${(error as Error).message}`);
        continue;
      }
      const seqs = records.map((r) => Number(/^seq (\d+)$/.exec(r.message)?.[1]));
      const bad = seqs.findIndex((n, i) => n !== i);
      if (bad !== -1) problem('corrupt', `${c.name}'s log: record ${bad} is "seq ${seqs[bad]}", expected ${bad} (${seqs.length} records)`);
    }
  }
  for (const runtime of ['runc', 'crun']) {
    const stateRoot = path.join(runRoot, runtime);
    if (!fs.existsSync(stateRoot)) continue;
    const ids = execFileSync(runtime, ['--root', stateRoot, 'list', '-q'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean);
    for (const id of ids) if (!running.has(id)) problem('orphaned', `${runtime} container ${id.slice(0, 12)} runs, no record says so`);
  }
  const shimsDir = path.join(runRoot, 'shims');
  for (const short of fs.existsSync(shimsDir) ? fs.readdirSync(shimsDir) : []) {
    const record = listed.find((c) => c.id.startsWith(short));
    if (!record) problem('orphaned', `a shim folder ${short} of no container`);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const rootfs = path.join(run.dir, 'rootfs');
  await buildRootfs(rootfs);
  if (!(await startDaemon())) throw new Error('conmand did not start');
  const kinds = ['logger', 'tty', 'crasher', 'sleeper'] as const;
  for (let i = 0; i < CONTAINERS; i++) {
    const kind = i < Math.ceil(CONTAINERS * 0.4) ? 'logger' : kinds[1 + (i % 3)];
    await create(`${kind}${i}`, kind, rootfs);
  }
  console.log(`soak: ${CONTAINERS} containers (${[...ours.values()].filter((k) => k === 'logger').length} loggers), ${KILLS} kills of conmand; run ${run.id}`);
  let flight = 0;
  for (let round = 1; round <= KILLS; round++) {
    (globalThis as Record<string, unknown>).__phase = `requests ${round}`;
    const names = [...ours.keys()];
    const pick = () => names[Math.floor(Math.random() * names.length)];
    const requests = [
      inFlight('GET', '/containers?all=1'),
      inFlight('GET', `/containers/${pick()}`),
      inFlight('GET', `/containers/${pick()}/logs?tail=5`),
      inFlight('POST', '/containers', { rootfs, args: ['true'], name: `flight${++flight}`, autoRemove: true }).then(() => inFlight('POST', `/containers/flight${flight}/start`)),
      inFlight('POST', `/containers/${names.find((n) => ours.get(n) === 'logger')}/exec`, { args: ['true'] }),
    ];
    await sleep(Math.random() * 300);
    if (round % 10 === 0) {
      // A shim dies too: an `always` container must come back (the policy of issue 10, point 8).
      const crashers = (await list().catch(() => [])).filter((c) => ours.get(c.name) === 'crasher' && c.status === 'running');
      const victim = crashers[Math.floor(Math.random() * crashers.length)];
      try {
        const shim = victim && (JSON.parse(fs.readFileSync(path.join(victim.shimDir, 'shim.json'), 'utf8')) as { pid: number });
        if (shim) process.kill(shim.pid, 'SIGKILL');
      } catch {
        // it was between two runs: no shim to kill this round
      }
    }
    (globalThis as Record<string, unknown>).__phase = `kill ${round}`;
    await killDaemon('SIGKILL');
    (globalThis as Record<string, unknown>).__phase = `requests ${round}`;
    await Promise.all(requests);
    (globalThis as Record<string, unknown>).__phase = `start ${round}`;
    if (!(await startDaemon())) break;
    (globalThis as Record<string, unknown>).__phase = `check ${round}`;
    await checkRecords(`after kill ${round}`);
    if (round % 10 === 0) process.stdout.write(`  ${round} kills, ${Math.round((Date.now() - started) / 1000)} s; so far ${JSON.stringify(counts)}\n`);
  }
  await checkFinal();
  console.log(`soak: done in ${Math.round((Date.now() - started) / 1000)} s`);
}

async function cleanup(): Promise<void> {
  // Every container through the manager (rm -f), then conmand, then the run's hygiene.
  try {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      for (const c of await list().catch(() => [] as ContainerInfo[])) await api('DELETE', `/containers/${c.id}?force=1`).catch(() => {});
      await killDaemon('SIGTERM');
    }
  } catch (error) {
    problems.push(`cleanup: ${(error as Error).message}`);
  }
  for (const runtime of ['runc', 'crun']) {
    const stateRoot = path.join(runRoot, runtime);
    const ids = fs.existsSync(stateRoot) ? execFileSync(runtime, ['--root', stateRoot, 'list', '-q'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean) : [];
    for (const id of ids) problem('leaked', `${runtime} container ${id.slice(0, 12)} after rm -f of all`);
  }
  for (const leak of new Set(run.leaks())) {
    // Name the container a leaked process belongs to (a shim's --id).
    const pid = Number(/^process (\d+)/.exec(leak)?.[1]);
    let id = '';
    try {
      id = /--id\0([^\0]+)/.exec(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1] ?? '';
    } catch {
      // gone
    }
    problem('leaked', id ? `${leak.slice(0, 40)} … the shim of ${id.slice(0, 12)}` : leak);
  }
  await run.cleanup();
}

let failed = false;
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
// Say where a round is stuck (an await nobody settles would otherwise end Node silently, code 13).
let lastPhase = '';
let samePhaseFor = 0;
const watchdog = setInterval(() => {
  const phase = String((globalThis as Record<string, unknown>).__phase ?? '');
  samePhaseFor = phase === lastPhase ? samePhaseFor + 1 : 0;
  lastPhase = phase;
  if (samePhaseFor === 60) console.error(`soak: still at "${phase}" after 60 s`);
}, 1000);
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`soak: ${(error as Error).stack}`);
} finally {
  await cleanup();
}
clearInterval(watchdog);
const { lost, corrupt, orphaned, leaked, daemon: daemonFailures } = counts;
console.log(`soak: lost ${lost}, corrupt ${corrupt}, orphaned ${orphaned}, leaked ${leaked}, daemon failures ${daemonFailures}`);
console.log(`      requests in flight: ${counts['2xx']} 2xx, ${counts['4xx']} 4xx, ${counts['5xx']} 5xx, ${counts.connectionErrors} cut by the kill; ${counts.unknown} containers unknown at the end`);
if (problems.length) console.log(`problems (first ${problems.length}):\n  ${problems.join('\n  ')}`);
process.exit(failed || lost + corrupt + orphaned + leaked + daemonFailures + counts['5xx'] > 0 ? 1 : 0);
