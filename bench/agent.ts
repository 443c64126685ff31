/**
 * Benchmark: chapter 09's conman-agent against the same pods run straight through the CRI
 * (the floor: what any agent must at least cost), on chapter 08's conmand, in one run.
 *
 *   npx tsx bench/agent.ts [--pods N] [--runs N] [--idle-s N] [--parallel N] [--sync-period-ms N]   (root; ≈ 2 min)
 *   npm run bench:agent
 *
 * Start: N pods (20) of one `sleep` container each.
 *   floor: a pool of --parallel (4) workers calls RunPodSandbox → CreateContainer →
 *          StartContainer per pod (the image pulled before); timed from the first call to the
 *          last StartContainer's answer.
 *   agent: N manifests written into the agent's folder at once; timed from the writes until
 *          every pod's status file says Running (polled every 20 ms). The agent starts pods
 *          --parallel at a time too (its own flag).
 * Rounds alternate between the two (--runs, default 2); the median is reported, and the ratio
 * agent / floor. Goal (issue 16): ≤ 1.3×.
 *
 * Idle: with the N pods running and nothing changing, for --idle-s (20) seconds: the agent's
 * CPU (utime + stime from /proc/PID/stat) as a share of one core, its RSS and PSS
 * (/proc/PID/smaps_rollup); and conmand's CPU over the same window, beside conmand's CPU with
 * the floor's pods and no agent: what the agent's relisting (every --sync-period-ms, 2 s by
 * default; kubelet's PLEG relists every second) costs the runtime. Goal: the agent idle below 1 % of a core.
 * Then one more pod that crashes at once: the agent's CPU over 8 s of its first back-off
 * (10 s), when it has nothing to do but wait.
 *
 * Everything lives in a HostRun of its own (lib/host/hygiene.ts): the pods' cgroups under the
 * run's parent, conmand and the agent stopped by their pid, the run removed at the end, also
 * after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { pushBusyboxImage } from '../lib/harness/busybox-image.ts';
import { conmanWorld, LAUNCH } from '../lib/harness/conman-world.ts';
import { criClient, type CriCall } from '../lib/harness/cri-client.ts';
import { HostRun } from '../lib/host/hygiene.ts';
import { cpuSeconds } from '../lib/host/proc-stat.ts';
import { startRegistry, type RegistryServer } from '../lib/host/registry-server.ts';
import { REPO_ROOT } from '../lib/paths.ts';

const { values: opts } = parseArgs({ options: { pods: { type: 'string', default: '20' }, runs: { type: 'string', default: '2' }, 'idle-s': { type: 'string', default: '20' }, parallel: { type: 'string', default: '4' }, 'sync-period-ms': { type: 'string', default: '2000' } } });
const PODS = Number(opts.pods);
const RUNS = Number(opts.runs);
const IDLE_S = Number(opts['idle-s']);
const PARALLEL = Number(opts.parallel);

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.resolve().then(check).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}


/** RSS and PSS in MiB. */
function memory(pid: number): { rss: number; pss: number } {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rss: kib('Rss') / 1024, pss: kib('Pss') / 1024 };
}

/** CPU share of one core over `seconds`, for each pid. */
async function idleCpu(pids: number[], seconds: number): Promise<number[]> {
  const before = pids.map(cpuSeconds);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return pids.map((pid, i) => (cpuSeconds(pid) - before[i]) / seconds);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function inPool(limit: number, tasks: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) await tasks[next++]();
  }));
}

/** The floor: the pods through the CRI, nothing else. Returns ms until the last one started, and the sandbox ids. */
async function floorRound(call: CriCall, image: string, round: number): Promise<{ ms: number; sandboxes: string[] }> {
  const sandboxes: string[] = [];
  const began = performance.now();
  await inPool(PARALLEL, Array.from({ length: PODS }, (_, i) => async () => {
    const config = {
      metadata: { name: `floor-${i}`, namespace: 'bench', uid: `floor-${round}-${i}`, attempt: 0 },
      hostname: `floor-${i}`,
      labels: { 'io.kubernetes.pod.name': `floor-${i}` },
      linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const { pod_sandbox_id } = await call('RuntimeService/RunPodSandbox', { config });
    sandboxes.push(pod_sandbox_id);
    const { container_id } = await call('RuntimeService/CreateContainer', { pod_sandbox_id, config: { metadata: { name: 'sleeper', attempt: 0 }, image: { image }, command: ['sleep', '3600'] }, sandbox_config: config });
    await call('RuntimeService/StartContainer', { container_id });
  }));
  return { ms: performance.now() - began, sandboxes };
}

async function removeSandboxes(call: CriCall, ids: string[]): Promise<void> {
  await inPool(PARALLEL, ids.map((id) => async () => {
    const { containers } = await call('RuntimeService/ListContainers', { filter: { pod_sandbox_id: id } });
    for (const c of containers) await call('RuntimeService/StopContainer', { container_id: c.id, timeout: 0 });
    await call('RuntimeService/StopPodSandbox', { pod_sandbox_id: id });
    await call('RuntimeService/RemovePodSandbox', { pod_sandbox_id: id });
  }));
}

const manifest = (i: number, image: string) => `apiVersion: v1
kind: Pod
metadata: { name: bench-${i}, namespace: bench }
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - { name: sleeper, image: ${image}, command: [sleep, '3600'] }
`;

/** A pod whose container exits at once: kubelet's first back-off, 10 s, follows its first exit. */
const crashManifest = (image: string) => `apiVersion: v1
kind: Pod
metadata: { name: crash, namespace: bench }
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - { name: crash, image: ${image}, command: [sh, -c, 'exit 1'] }
`;
/** How long the CPU is read while the crashing pod waits: within its first back-off of 10 s. */
const BACKOFF_WINDOW_S = 8;

function displayOfFile(stateDir: string, file: string): string | undefined {
  try {
    return (parse(fs.readFileSync(path.join(stateDir, 'status', `${file}.status.yaml`), 'utf8')) as { metadata: { annotations: Record<string, string> } }).metadata.annotations['conman-agent.io/status'];
  } catch {
    return undefined;
  }
}
const displayOf = (stateDir: string, i: number) => displayOfFile(stateDir, `bench-${i}.yaml`);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: sudo npx tsx bench/agent.ts');
  const run = new HostRun();
  let registry: RegistryServer | undefined;
  let stopConmand: (() => Promise<void>) | undefined;
  let agent: ChildProcess | undefined;
  let client: { call: CriCall; close(): void } | undefined;
  try {
    process.stderr.write('registry and image...\n');
    registry = await startRegistry(run);
    await pushBusyboxImage(path.join(run.dir, 'umoci'), registry.host, [['oci', 'bench/busybox:1']], ['--config.cmd', 'sh']);
    const image = `${registry.host}/bench/busybox:1`;
    process.stderr.write('conmand...\n');
    const network = run.network('agent');
    const w = conmanWorld(run, '08-cri', 'conman', {
      CONMAN_CNI_CONF_DIR: path.join(run.dir, 'conman', 'net.d'),
      CONMAN_CNI_PATH: '/usr/lib/cni',
      CONMAN_DEFAULT_NETWORK: network.name,
      CONMAN_DEFAULT_BRIDGE: network.bridge,
      CONMAN_DEFAULT_SUBNET: network.subnet,
      CONMAN_INSECURE_REGISTRIES: registry.host,
    });
    await w.startDaemon();
    stopConmand = () => w.stopDaemon();
    const conmandPid = w.daemonPid()!;
    const socket = path.join(w.runRoot, 'cri.sock');
    client = criClient(socket, 300_000);
    const { call } = client;
    await call('ImageService/PullImage', { image: { image } });

    const manifests = path.join(run.dir, 'manifests');
    const stateDir = path.join(run.dir, 'agent-state');
    fs.mkdirSync(manifests, { recursive: true });
    const agentLog = path.join(run.dir, 'agent.log');
    const out = fs.openSync(agentLog, 'a');
    agent = spawn(process.execPath, [LAUNCH, path.join(REPO_ROOT, 'solutions/09-orchestration/conman-agent.ts'), 'run', '--manifests', manifests, '--runtime-endpoint', `unix://${socket}`, '--state', stateDir, '--log-dir', path.join(run.dir, 'pod-logs'), '--parallel', String(PARALLEL), '--sync-period-ms', opts['sync-period-ms']!], { stdio: ['ignore', out, out], detached: true });
    fs.closeSync(out);
    await waitFor('the agent writes agent.yaml', () => fs.existsSync(path.join(stateDir, 'agent.yaml')), 30_000);

    const floorTimes: number[] = [];
    const agentTimes: number[] = [];
    const agentFirst: number[] = [];
    let floorIdle: number[] = [];
    let agentIdle: number[] = [];
    let agentMemory = { rss: 0, pss: 0 };
    let backoffIdle = 0;
    for (let round = 0; round < RUNS; round++) {
      // The floor: straight through the CRI.
      const floor = await floorRound(call, image, round);
      floorTimes.push(floor.ms);
      process.stderr.write(`round ${round + 1}/${RUNS}: floor ${Math.round(floor.ms)} ms`);
      if (round === 0) floorIdle = await idleCpu([conmandPid], IDLE_S);
      await removeSandboxes(call, floor.sandboxes);

      // The agent: manifests written at once; each pod until its status says Running.
      const began = performance.now();
      const running = new Map<number, number>();
      for (let i = 0; i < PODS; i++) fs.writeFileSync(path.join(manifests, `bench-${i}.yaml`), manifest(i, image));
      await waitFor(`${PODS} pods Running`, () => {
        for (let i = 0; i < PODS; i++) if (!running.has(i) && displayOf(stateDir, i) === 'Running') running.set(i, performance.now() - began);
        return running.size === PODS;
      }, 300_000, 20);
      agentTimes.push(Math.max(...running.values()));
      agentFirst.push(Math.min(...running.values()));
      process.stderr.write(`, agent ${Math.round(Math.max(...running.values()))} ms\n`);
      if (round === 0) {
        await new Promise((resolve) => setTimeout(resolve, 3000)); // (the last statuses written, the heap settled)
        agentIdle = await idleCpu([agent.pid!, conmandPid], IDLE_S);
        agentMemory = memory(agent.pid!);
        // One more pod, crashing at once: while it waits out its first back-off (10 s), the
        // agent has nothing to do but wait (a busy loop here was a real bug).
        fs.writeFileSync(path.join(manifests, 'crash.yaml'), crashManifest(image));
        await waitFor('the crashing pod in CrashLoopBackOff', () => displayOfFile(stateDir, 'crash.yaml') === 'CrashLoopBackOff', 60_000, 20);
        backoffIdle = (await idleCpu([agent.pid!], BACKOFF_WINDOW_S))[0];
        fs.rmSync(path.join(manifests, 'crash.yaml'));
      }
      for (let i = 0; i < PODS; i++) fs.rmSync(path.join(manifests, `bench-${i}.yaml`));
      await waitFor('the agent removed its pods', async () => (await call('RuntimeService/ListPodSandbox')).items.length === 0, 300_000);
    }

    const f = median(floorTimes);
    const a = median(agentTimes);
    const pct = (share: number) => `${(share * 100).toFixed(2)} %`;
    console.log(`\n${PODS} pods of one container, ${PARALLEL} at a time, median of ${RUNS} rounds (load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
    console.log(`${''.padEnd(44)}${'floor (CRI)'.padStart(14)}${'conman-agent'.padStart(14)}${'ratio'.padStart(8)}`);
    console.log(`${'all pods Running (ms)'.padEnd(44)}${f.toFixed(0).padStart(14)}${a.toFixed(0).padStart(14)}${`${(a / f).toFixed(2)}×`.padStart(8)}`);
    console.log(`${'first pod Running (ms)'.padEnd(44)}${''.padStart(14)}${median(agentFirst).toFixed(0).padStart(14)}`);
    console.log(`${`conmand idle CPU, ${PODS} pods (share of a core)`.padEnd(44)}${pct(floorIdle[0]).padStart(14)}${pct(agentIdle[1]).padStart(14)}`);
    console.log(`${`agent idle CPU, ${PODS} pods (share of a core)`.padEnd(44)}${''.padStart(14)}${pct(agentIdle[0]).padStart(14)}`);
    console.log(`${`agent CPU, + 1 pod in CrashLoopBackOff`.padEnd(44)}${''.padStart(14)}${pct(backoffIdle).padStart(14)}`);
    console.log(`${'agent memory, RSS / PSS (MiB)'.padEnd(44)}${''.padStart(14)}${`${agentMemory.rss.toFixed(1)} / ${agentMemory.pss.toFixed(1)}`.padStart(14)}`);
    console.log(`\nGoals (issue 16): start ≤ 1.3× the floor: ${(a / f).toFixed(2)}× -> ${a / f <= 1.3 ? 'MET' : 'NOT MET'}; agent idle < 1 % of a core: ${pct(agentIdle[0])} -> ${agentIdle[0] < 0.01 ? 'MET' : 'NOT MET'}`);
  } finally {
    if (agent && agent.exitCode === null) {
      const gone = new Promise((resolve) => agent!.once('exit', resolve));
      agent.kill('SIGTERM');
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
    if (client) {
      for (const sandbox of (await client.call('RuntimeService/ListPodSandbox').catch(() => ({ items: [] }))).items) {
        await client.call('RuntimeService/StopPodSandbox', { pod_sandbox_id: sandbox.id }).catch(() => {});
        await client.call('RuntimeService/RemovePodSandbox', { pod_sandbox_id: sandbox.id }).catch(() => {});
      }
      client.close();
    }
    await stopConmand?.().catch(() => {});
    await registry?.stop().catch(() => {});
    const removed = await run.cleanup();
    process.stderr.write(`cleaned up: ${removed.length} objects\n`);
  }
}

await main();
process.exit(0); // (a gRPC channel or a child's handle must not keep a finished benchmark waiting)
