/**
 * `workshop doctor`: can this machine run the workshop? Each check says what it found and,
 * when it fails, the command that fixes it. The smoke tests really start a container with
 * runc and with crun, so "doctor passes" means "containers run here".
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { crunBlockedByHybrid, cgroupLayout } from './host/cgroups.ts';
import { HostRun } from './host/hygiene.ts';
import { mountOf } from './host/mountinfo.ts';
import { writeTinyBundle } from './host/tiny-bundle.ts';
import { HOST_LIB_DIR, HOST_RUN_DIR, REPO_ROOT } from './paths.ts';
import { saveMeasuredSlowness, slowFactorSource } from './slow.ts';

const run = promisify(execFile);
const PROVISION = 'sudo bash vagrant/provision.sh';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found, e.g. "runc 1.1.5". */
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

async function version(command: string, args = ['--version']): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(command, args);
    return (stdout || stderr).split('\n')[0].trim();
  } catch {
    return undefined;
  }
}

function check(name: string, ok: boolean, detail: string, fix?: string): DoctorCheck {
  return { name, ok, detail, fix: ok ? undefined : fix };
}

const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap', 'firewall', 'tuning'];
export const CNI_DIR = '/usr/lib/cni';

export async function runDoctor(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const isRoot = process.getuid?.() === 0;
  checks.push(check('root', isRoot, isRoot ? 'running as root' : `running as uid ${process.getuid?.()}`, 'containers, cgroups and mounts need root: sudo ./workshop ...'));

  const major = Number(process.versions.node.split('.')[0]);
  checks.push(check('node', major >= 20, `Node.js ${process.versions.node}`, `install Node.js 20 or newer: ${PROVISION}`));
  const deps = fs.existsSync(path.join(REPO_ROOT, 'node_modules', 'vitest'));
  checks.push(check('npm dependencies', deps, deps ? 'node_modules present' : 'node_modules missing', 'npm ci (./workshop does it for you)'));

  for (const [tool, pkg] of [['runc', 'runc'], ['crun', 'crun'], ['ip', 'iproute2'], ['iptables', 'iptables'], ['docker-registry', 'docker-registry']] as const) {
    const found = await version(tool, tool === 'ip' ? ['-V'] : tool === 'docker-registry' ? ['--version'] : ['--version']);
    checks.push(check(tool, found !== undefined, found ?? 'not found', `apt-get install ${pkg} (or ${PROVISION})`));
  }

  const busybox = await run('ldd', ['/bin/busybox']).then(
    () => 'dynamic',
    (error: { stdout?: string; stderr?: string }) => (fs.existsSync('/bin/busybox') ? `${error.stdout ?? ''}${error.stderr ?? ''}` : 'missing'),
  );
  const staticBusybox = /not a dynamic executable/.test(busybox);
  checks.push(check('busybox (static)', staticBusybox, staticBusybox ? '/bin/busybox is statically linked' : `/bin/busybox: ${busybox.trim()}`, 'apt-get install busybox-static (the rootfs has no libc, so busybox must be static)'));

  const catatonit = fs.existsSync('/usr/bin/catatonit');
  checks.push(check('catatonit', catatonit, catatonit ? "/usr/bin/catatonit, a pod's infra process (chapter 07)" : 'not found', `apt-get install catatonit (or ${PROVISION})`));

  const missingPlugins = CNI_PLUGINS.filter((plugin) => !fs.existsSync(path.join(CNI_DIR, plugin)));
  checks.push(check('CNI plugins', missingPlugins.length === 0, missingPlugins.length ? `missing in ${CNI_DIR}: ${missingPlugins.join(', ')}` : `${CNI_PLUGINS.join(', ')} in ${CNI_DIR}`, 'apt-get install containernetworking-plugins'));

  const filesystems = fs.readFileSync('/proc/filesystems', 'utf8');
  checks.push(check('overlayfs', /\boverlay\b/.test(filesystems), /\boverlay\b/.test(filesystems) ? 'overlay in /proc/filesystems' : 'the kernel has no overlay filesystem loaded', 'modprobe overlay'));

  const layout = cgroupLayout();
  const blocked = crunBlockedByHybrid(layout);
  const modeText = {
    v2: 'cgroup v2 (unified): one hierarchy at /sys/fs/cgroup',
    hybrid: `hybrid: v1 controllers plus cgroup2 at ${layout.unified} (controllers there: ${layout.unifiedControllers.join(' ') || 'none'})`,
    v1: 'cgroup v1: one hierarchy per controller',
    none: 'no cgroup filesystem mounted',
  }[layout.mode];
  checks.push(check('cgroups', layout.mode !== 'none' && !blocked, modeText,
    blocked
      ? `crun refuses hybrid mode while ${layout.unifiedControllers.join(', ')} sits in the unified hierarchy; move it to a v1 hierarchy: mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb (${PROVISION} does this)`
      : 'mount the cgroup filesystems (a normal Debian 12 boot does)'));

  checks.push(...execFolderChecks());

  if (isRoot) {
    for (const runtime of ['runc', 'crun']) checks.push(await smokeTest(runtime));
    checks.push(await measureSlowness());
  }
  return checks;
}

/**
 * Folders from which something is executed: the containers' rootfs and bundles, conman's
 * default root, and the repository (esbuild's binary, the shims' Node code). A `noexec` mount
 * under any of them gives `exec /bin/sh: permission denied` inside every container.
 * /run is named too, as information: the workshop keeps only state and sockets there.
 */
export function execFolderChecks(folders: string[] = [HOST_LIB_DIR, '/var/lib/conman', REPO_ROOT], stateFolder = HOST_RUN_DIR): DoctorCheck[] {
  const noexec = folders
    .map((folder) => ({ folder, mount: mountOf(folder) }))
    .filter(({ mount }) => mount.mountOptions.split(',').includes('noexec'));
  const checks = [
    check(
      'folders allow exec',
      noexec.length === 0,
      noexec.length === 0
        ? `${folders.join(', ')} are on filesystems that allow exec`
        : noexec.map(({ folder, mount }) => `${folder} is on ${mount.mountPoint}, mounted noexec (${mount.mountOptions})`).join('; '),
      noexec.map(({ mount }) => `mount -o remount,exec ${mount.mountPoint}`).join(' && ') +
        ' (or move the folder onto a filesystem that allows exec; containers cannot run programs from a noexec mount)',
    ),
  ];
  const state = mountOf(stateFolder);
  const stateNoexec = state.mountOptions.split(',').includes('noexec');
  checks.push(check('run-time state folder', true, `${stateFolder} on ${state.mountPoint} (${stateNoexec ? 'noexec: fine, only sockets and state live there' : state.mountOptions})`));
  return checks;
}

/** A container start takes about this long on an ordinary 2-core machine (runc run of busybox true). */
const NORMAL_CONTAINER_MS = 150;
/** And a bare Node.js start (the shims, conmand and conman are Node programs). */
const NORMAL_NODE_MS = 200;

/**
 * How slow is this machine? Time a container start and a Node.js start, compare with an
 * ordinary machine, and keep the factor (lib/slow.ts) so every wait of the checks and the
 * stack scales with it. WORKSHOP_SLOW, when set, wins.
 */
async function measureSlowness(): Promise<DoctorCheck> {
  const timed = async (command: string, args: string[]) => {
    const started = process.hrtime.bigint();
    await run(command, args, { timeout: 120_000 });
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  const hostRun = new HostRun();
  try {
    const containerMs: number[] = [];
    const nodeMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { id, bundle, cgroupsPath } = hostRun.container('slow');
      writeTinyBundle(bundle, ['true'], cgroupsPath);
      containerMs.push(await timed('runc', ['--root', hostRun.stateRoot('runc'), 'run', '--bundle', bundle, id]));
      nodeMs.push(await timed(process.execPath, ['-e', '0']));
    }
    const container = Math.min(...containerMs);
    const node = Math.min(...nodeMs);
    const factor = Math.max(1, Math.round(Math.max(container / NORMAL_CONTAINER_MS, node / NORMAL_NODE_MS) * 2) / 2);
    const basis = `a container started in ${Math.round(container)} ms (ordinary: ${NORMAL_CONTAINER_MS}), Node.js in ${Math.round(node)} ms (ordinary: ${NORMAL_NODE_MS})`;
    saveMeasuredSlowness({ factor, basis, at: new Date().toISOString() });
    const { factor: used, source } = slowFactorSource();
    const detail = `${basis}: factor ${factor}${used !== factor ? `; using ${used} (${source})` : ''}; every wait of the checks is multiplied by it`;
    return check('machine speed', true, detail);
  } catch (error) {
    return check('machine speed', false, `could not time a container start: ${(error as Error).message.split('\n')[0]}`, 'see the runtime checks above');
  } finally {
    await hostRun.cleanup();
  }
}

/** Start a real container (busybox `true`) with `runtime`; the surest proof the machine is ready. */
async function smokeTest(runtime: string): Promise<DoctorCheck> {
  const name = `${runtime} runs a container`;
  if (!fs.existsSync('/bin/busybox')) return check(name, false, 'no busybox to build a rootfs from', 'apt-get install busybox-static');
  const hostRun = new HostRun();
  const { id, bundle, cgroupsPath } = hostRun.container('doctor');
  try {
    writeTinyBundle(bundle, ['true'], cgroupsPath);
    const started = Date.now();
    await run(runtime, ['--root', hostRun.stateRoot(runtime), 'run', '--bundle', bundle, id], { timeout: 20_000 });
    return check(name, true, `busybox true exited 0 in ${Date.now() - started} ms`);
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    const fix = /hybrid mode/.test(stderr)
      ? `mount hugetlb as a v1 hierarchy (see the cgroups check above), or ${PROVISION}`
      : `read ${runtime}'s message above; \`workshop doctor\` lists what else is missing`;
    return check(name, false, stderr.split('\n').slice(-3).join(' '), fix);
  } finally {
    await hostRun.cleanup();
  }
}
