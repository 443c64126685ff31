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
import { writeTinyBundle } from './host/tiny-bundle.ts';
import { REPO_ROOT } from './paths.ts';

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

const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap', 'firewall'];
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

  if (isRoot) {
    for (const runtime of ['runc', 'crun']) checks.push(await smokeTest(runtime));
  }
  return checks;
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
