/**
 * conmand: the daemon. `conmand [--root DIR] [--run-root DIR] [--socket PATH] [--cgroup-parent P] [--shim-pool N]`
 *
 * Opens the Manager (which locks its roots, then recovers every container it knew), serves
 * the API (api.ts) on a unix socket only root can open, and runs until SIGTERM or SIGINT.
 * Stopping it, or killing it with SIGKILL, stops no container: they belong to their shims.
 * On a full disk it still starts, read-mostly, and says so (disk-full.ts). It keeps N shims
 * (default 2, CONMAN_SHIM_POOL) started ahead of need, so a start does not wait for Node
 * (shim-pool.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkSocketPath, createApiServer, listenOnSocket, SocketInUseError } from './api.ts';
import { daemonFileOf, runningDaemon, writeDaemonFile } from './daemon-file.ts';
import { DEFAULT_CGROUP_PARENT, DEFAULT_ROOT, DEFAULT_RUN_ROOT } from './defaults.ts';
import { lowSpace } from './disk-full.ts';
import { Manager } from './manager.ts';
import { RootLockedError } from './root-lock.ts';
import { DEFAULT_SHIM_POOL_SIZE } from './shim-pool.ts';
import { registeredNetworkProvider } from './network-provider.ts';
import { registeredRootfsProvider } from './rootfs-provider.ts';
import { registeredPodProvider } from './pod-provider.ts';
import { registeredDaemonServices } from './daemon-services.ts';

const services = registeredDaemonServices();
const USAGE = ['usage: conmand [--root DIR] [--run-root DIR] [--socket PATH] [--cgroup-parent /PATH] [--shim-pool N]', ...services.map((s) => s.usage)].join(' ');
const ownOptions = {
  root: { type: 'string', default: process.env.CONMAN_ROOT ?? DEFAULT_ROOT },
  'run-root': { type: 'string', default: process.env.CONMAN_RUN_ROOT ?? DEFAULT_RUN_ROOT },
  socket: { type: 'string', default: process.env.CONMAN_SOCKET },
  'cgroup-parent': { type: 'string', default: process.env.CONMAN_CGROUP_PARENT ?? DEFAULT_CGROUP_PARENT },
  'shim-pool': { type: 'string', default: process.env.CONMAN_SHIM_POOL ?? String(DEFAULT_SHIM_POOL_SIZE) },
  help: { type: 'boolean', short: 'h' },
} as const;
// A later chapter's servers add their own options (chapter 08: --cri-socket).
const options = Object.assign({}, ...services.map((s) => s.options), ownOptions) as typeof ownOptions;
let values: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];
try {
  values = parseArgs({ options }).values;
} catch (error) {
  console.error(`conmand: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('conmand: containers need root: run it as root (sudo conmand)');
  process.exit(1);
}
const shimPoolSize = Number(values['shim-pool']);
if (!Number.isInteger(shimPoolSize) || shimPoolSize < 0 || shimPoolSize > 64) {
  console.error(`conmand: --shim-pool ${values['shim-pool']}: give a number of idle shims from 0 (none) to 64\n${USAGE}`);
  process.exit(2);
}
const runRoot = path.resolve(values['run-root']!);
const socket = path.resolve(values.socket ?? path.join(runRoot, 'conmand.sock'));
const other = runningDaemon(runRoot);
if (other) {
  console.error(`conmand: another conmand (pid ${other.pid}) already serves ${runRoot} on ${other.socket}`);
  process.exit(1);
}

/** A refusal to start: one line that says why, exit code 1. */
function refuse(error: unknown): never {
  console.error(`conmand: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const began = Date.now();
const root = path.resolve(values.root!);
let manager: Manager;
try {
  // The socket is checked once the roots are locked, before recovery changes anything.
  // Images and networks, when the program that started this one registered them (chapters 05 and 06's conmand).
  manager = await Manager.open({
    root,
    runRoot,
    cgroupParent: values['cgroup-parent'],
    rootfsProvider: registeredRootfsProvider(root),
    networkProvider: registeredNetworkProvider({ root, runRoot }),
    podProvider: registeredPodProvider(),
    shimPoolSize,
    onLocked: () => checkSocketPath(socket),
  });
} catch (error) {
  if (error instanceof RootLockedError || error instanceof SocketInUseError) refuse(error);
  throw error;
}
const server = createApiServer(manager);
await listenOnSocket(server, socket).catch(refuse);
try {
  writeDaemonFile(runRoot, socket);
} catch (error) {
  // The lock, not this file, keeps other managers out: go on without it.
  console.error(`conmand: warning: cannot write ${daemonFileOf(runRoot)}: ${(error as Error).message}`);
}
for (const problem of lowSpace([root, runRoot])) {
  console.error(`conmand: warning: ${problem}: read-mostly until space is freed (ps, inspect, logs, attach, kill and rm work; create, start and stop answer 507)`);
}
const started: { name: string; where: string; close(): Promise<void> }[] = [];
for (const service of services) {
  const names = Object.keys(service.options);
  const given = Object.fromEntries(names.map((name) => [name, (values as Record<string, string | boolean | undefined>)[name]]));
  try {
    started.push({ name: service.name, ...(await service.start(manager, { root, runRoot, options: given })) });
  } catch (error) {
    server.close();
    await manager.close();
    fs.rmSync(socket, { force: true });
    refuse(new Error(`${service.name}: ${(error as Error).message}`));
  }
}
const containers = await manager.list(true);
console.error(
  `conmand: listening on ${socket} (pid ${process.pid}); ${containers.length} containers, ` +
    `${containers.filter((c) => c.status === 'running').length} running, recovered in ${Date.now() - began} ms; ` +
    `shim pool: ${shimPoolSize === 0 ? 'off' : `${shimPoolSize} idle shims`}` +
    started.map((service) => `; ${service.name} on ${service.where}`).join(''),
);

async function shutdown(signal: string): Promise<void> {
  console.error(`conmand: ${signal}: stopping; containers keep running`);
  server.close();
  for (const service of started) await service.close().catch(() => {});
  await manager.close();
  fs.rmSync(socket, { force: true });
  fs.rmSync(daemonFileOf(runRoot), { force: true });
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
