/**
 * Benchmark: chapter 08's CRI endpoint against containerd's CRI plugin, through the same gRPC
 * client (the project's api.proto), on the same busybox image from the same local registry.
 *
 *   npx tsx bench/cri.ts [--runs N]        (as root; ≈ 1-2 minutes)
 *   npm run bench:cri
 *
 * One round is the flow kubelet runs for a one-container pod and an exec probe, then its end:
 *
 *   RunPodSandbox → CreateContainer → StartContainer → ExecSync(true) →
 *   StopContainer(0) → RemoveContainer → StopPodSandbox → RemovePodSandbox
 *
 * timed from the first call's start to the last one's answer; rounds alternate between the
 * two servers (one warm-up round each is dropped); the median of --runs (10) is reported per
 * step and for the whole flow, with conman / containerd as a ratio. Goal (issue 15): the
 * whole flow ≤ 1.0× containerd.
 *
 * containerd: Debian's 1.6, started by us on a private socket, root and state (stopped by its
 * PID), its CRI plugin on, the sandbox ("pause") image and the container image both the
 * busybox image pulled from the local registry (mirrored over plain HTTP), CNI bridge +
 * portmap on a network of this run. conman: chapter 08's conmand (solutions/) on its own roots
 * and the same kind of network. Both put their pods' cgroups under this run's parent, so the
 * run's clean-up (lib/host/hygiene.ts) removes everything either leaves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pushBusyboxImage } from '../lib/harness/busybox-image.ts';
import { conmanWorld } from '../lib/harness/conman-world.ts';
import { criClient, type CriCall } from '../lib/harness/cri-client.ts';
import { HostRun } from '../lib/host/hygiene.ts';
import { startRegistry, type RegistryServer } from '../lib/host/registry-server.ts';

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(opts.runs);
const STEPS = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'ExecSync', 'StopContainer', 'RemoveContainer', 'StopPodSandbox', 'RemovePodSandbox'] as const;

type Call = CriCall;

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One flow: the time of each step, in ms. */
async function flow(call: Call, image: string, cgroupParent: string, round: number): Promise<Record<string, number>> {
  const times: Record<string, number> = {};
  const timed = async (step: string, request: object) => {
    const began = performance.now();
    const reply = await call(`RuntimeService/${step}`, request);
    times[step] = performance.now() - began;
    return reply;
  };
  const sandboxConfig = {
    metadata: { name: `bench${round}`, namespace: 'bench', uid: `uid-${round}`, attempt: 0 },
    hostname: `bench${round}`,
    log_directory: '',
    linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const { pod_sandbox_id } = await timed('RunPodSandbox', { config: sandboxConfig });
  const config = { metadata: { name: 'sleeper', attempt: 0 }, image: { image }, command: ['sleep', '600'] };
  const { container_id } = await timed('CreateContainer', { pod_sandbox_id, config, sandbox_config: sandboxConfig });
  await timed('StartContainer', { container_id });
  const exec = await timed('ExecSync', { container_id, cmd: ['true'], timeout: 10 });
  if (exec.exit_code !== 0) throw new Error(`ExecSync true: exit code ${exec.exit_code}`);
  await timed('StopContainer', { container_id, timeout: 0 });
  await timed('RemoveContainer', { container_id });
  await timed('StopPodSandbox', { pod_sandbox_id });
  await timed('RemovePodSandbox', { pod_sandbox_id });
  return times;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: sudo npx tsx bench/cri.ts');
  const run = new HostRun();
  let containerd: ChildProcess | undefined;
  const clients: { close(): void }[] = [];
  let stopConmand: (() => Promise<void>) | undefined;
  let registry: RegistryServer | undefined;
  // containerd 1.6 makes /run/containerd/{s,runc/k8s.io} whatever its --state: remove them after, if they were not there before.
  const preexisting = ['runc/k8s.io', 's', 'runc', ''].filter((sub) => fs.existsSync(path.join('/run/containerd', sub)));
  try {
    process.stderr.write('registry and image...\n');
    registry = await startRegistry(run);
    await pushBusyboxImage(path.join(run.dir, 'umoci'), registry.host, [['oci', 'bench/busybox:1']], ['--config.env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--config.cmd', 'sleep', '--config.cmd', '3600']);
    const image = `${registry.host}/bench/busybox:1`;

    // containerd with its CRI plugin, on a network of this run.
    process.stderr.write('containerd...\n');
    const ctd = path.join(run.dir, 'containerd');
    const network = run.network('ctd');
    const netDir = path.join(ctd, 'net.d');
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(
      path.join(netDir, '10-bench.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: network.name,
        plugins: [
          { type: 'bridge', bridge: network.bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: network.subnet }]] } },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }),
    );
    const socket = path.join(run.stateDir, 'containerd.sock');
    const config = path.join(ctd, 'config.toml');
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    fs.writeFileSync(
      config,
      [
        'version = 2',
        `root = ${JSON.stringify(path.join(ctd, 'root'))}`,
        `state = ${JSON.stringify(path.join(run.stateDir, 'containerd-state'))}`,
        'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]',
        '[grpc]',
        `  address = ${JSON.stringify(socket)}`,
        '[ttrpc]',
        `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
        `[${cri}]`,
        `  sandbox_image = ${JSON.stringify(image)}`,
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        '  restrict_oom_score_adj = true',
        '  disable_apparmor = true',
        `[${cri}.containerd]`,
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        `[${cri}.containerd.runtimes.runc]`,
        '  runtime_type = "io.containerd.runc.v2"',
        `[${cri}.cni]`,
        '  bin_dir = "/usr/lib/cni"',
        `  conf_dir = ${JSON.stringify(netDir)}`,
        `[${cri}.registry.mirrors.${JSON.stringify(registry.host)}]`,
        `  endpoint = [${JSON.stringify(`http://${registry.host}`)}]`,
        '',
      ].join('\n'),
    );
    const log = fs.openSync(path.join(ctd, 'containerd.log'), 'a');
    containerd = spawn('/usr/bin/containerd', ['--config', config], { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const ctdClient = criClient(socket, 120_000);
    clients.push(ctdClient);
    await waitFor('containerd\'s CRI answers Version', async () => Boolean((await ctdClient.call('RuntimeService/Version', {})).runtime_name), 30_000);
    await ctdClient.call('ImageService/PullImage', { image: { image } });

    // conman: chapter 08's conmand.
    process.stderr.write('conmand...\n');
    const conmanNetwork = run.network('conman');
    const w = conmanWorld(run, '08-cri', 'conman', {
      CONMAN_CNI_CONF_DIR: path.join(run.dir, 'conman', 'net.d'),
      CONMAN_CNI_PATH: '/usr/lib/cni',
      CONMAN_DEFAULT_NETWORK: conmanNetwork.name,
      CONMAN_DEFAULT_BRIDGE: conmanNetwork.bridge,
      CONMAN_DEFAULT_SUBNET: conmanNetwork.subnet,
      CONMAN_INSECURE_REGISTRIES: registry.host,
    });
    await w.startDaemon();
    stopConmand = () => w.stopDaemon();
    const conmanClient = criClient(path.join(w.runRoot, 'cri.sock'), 120_000);
    clients.push(conmanClient);
    await conmanClient.call('ImageService/PullImage', { image: { image } });

    const kinds = [
      { name: 'conman (chapter 08)', call: conmanClient.call, cgroupParent: `${run.cgroupParent}/conman` },
      { name: 'containerd 1.6 CRI', call: ctdClient.call, cgroupParent: `${run.cgroupParent}/containerd` },
    ];
    const results = new Map(kinds.map((kind) => [kind.name, [] as Record<string, number>[]]));
    for (let round = 0; round <= RUNS; round++) {
      for (const kind of round % 2 ? kinds : [...kinds].reverse()) {
        const times = await flow(kind.call, image, kind.cgroupParent, round);
        if (round > 0) results.get(kind.name)!.push(times); // round 0 warms caches
      }
      process.stderr.write(`round ${round}/${RUNS}\r`);
    }

    const table = (kind: string, step: string) => median(results.get(kind)!.map((times) => (step === 'whole flow' ? STEPS.reduce((sum, s) => sum + times[s], 0) : times[step])));
    console.log(`\nCRI flow, median of ${RUNS} rounds (ms); ratio = conman / containerd`);
    console.log(`${'step'.padEnd(20)}${'conman'.padStart(10)}${'containerd'.padStart(12)}${'ratio'.padStart(8)}`);
    for (const step of [...STEPS, 'whole flow']) {
      const [a, b] = kinds.map((kind) => table(kind.name, step));
      console.log(`${step.padEnd(20)}${a.toFixed(1).padStart(10)}${b.toFixed(1).padStart(12)}${`${(a / b).toFixed(2)}×`.padStart(8)}`);
    }
    const ratio = table(kinds[0].name, 'whole flow') / table(kinds[1].name, 'whole flow');
    console.log(`\nGoal (issue 15): the whole flow ≤ 1.0× containerd's: ${ratio.toFixed(2)}× -> ${ratio <= 1 ? 'MET' : 'NOT MET'}`);
  } finally {
    for (const client of clients) client.close();
    await stopConmand?.().catch(() => {});
    if (containerd?.pid) {
      try {
        process.kill(containerd.pid, 'SIGTERM');
        await waitFor('containerd exits', async () => containerd!.exitCode !== null || containerd!.signalCode !== null, 10_000).catch(() => process.kill(containerd!.pid!, 'SIGKILL'));
      } catch {
        // gone already
      }
    }
    await registry?.stop().catch(() => {});
    const removed = await run.cleanup();
    for (const sub of ['runc/k8s.io', 's', 'runc', '']) {
      if (preexisting.includes(sub)) continue;
      try {
        fs.rmdirSync(path.join('/run/containerd', sub));
      } catch {
        // not empty: someone else's
      }
    }
    process.stderr.write(`cleaned up: ${removed.length} objects\n`);
  }
}

await main();
process.exit(0); // (a gRPC channel or a child's handle must not keep a finished benchmark waiting)
