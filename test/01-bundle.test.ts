/**
 * Chapter 01 checks: a bundle built by the learner's code runs under runc (and crun) on the
 * real kernel. Isolation is proved from inside the container: a busybox shell prints what it
 * sees, and the test reads that.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { caught } from '../lib/harness/caught.ts';
import { useHostRun } from '../lib/harness/host-run.ts';
import { importTarget } from '../lib/harness/target.ts';
import { requireCommand } from '../lib/harness/require.ts';
import { cgroupLayout } from '../lib/host/cgroups.ts';
import type { Spec } from '../lib/oci-spec.ts';
import { scaled } from '../lib/slow.ts';

type Rootfs = typeof import('../solutions/01-bundle/rootfs.ts');
type Config = typeof import('../solutions/01-bundle/config.ts');
type Bundle = typeof import('../solutions/01-bundle/bundle.ts');
type Run = typeof import('../solutions/01-bundle/run.ts');
type ContainerOptions = import('../solutions/01-bundle/config.ts').ContainerOptions;
type RuntimeName = import('../solutions/01-bundle/run.ts').RuntimeName;

const hostRun = useHostRun();
const MiB = 1024 * 1024;

/** Build a bundle for `options` in a fresh folder of this run and run it in the foreground. */
async function runInContainer(label: string, options: ContainerOptions, runtime: RuntimeName = 'runc') {
  requireCommand(runtime, runtime);
  const { createBundle } = await importTarget<Bundle>('01-bundle/bundle.ts');
  const { runContainer } = await importTarget<Run>('01-bundle/run.ts');
  const { id, bundle, cgroupsPath } = hostRun().container(label);
  await createBundle(bundle, { cgroupsPath, ...options });
  return runContainer(bundle, { id, runtime, stateRoot: hostRun().stateRoot(runtime) });
}

const sh = (script: string) => ['sh', '-c', script];

describe('the rootfs', () => {
  /** One rootfs, built once by the learner's buildRootfs, for the checks below. */
  let built: Promise<string> | undefined;
  const rootfs = () =>
    (built ??= (async () => {
      const { buildRootfs } = await importTarget<Rootfs>('01-bundle/rootfs.ts');
      const dir = path.join(hostRun().dir, 'rootfs-only');
      await buildRootfs(dir);
      return dir;
    })());
  const mode = (file: string) => (fs.statSync(file).mode & 0o7777).toString(8);

  test('has a static busybox, an applet link per command, the usual folders and users', async () => {
    const dir = await rootfs();
    expect(mode(path.join(dir, 'bin/busybox')), 'bin/busybox mode (octal)').toBe('755');
    for (const applet of ['sh', 'ls', 'id', 'hostname', 'mount']) {
      expect(fs.readlinkSync(path.join(dir, 'bin', applet)), `bin/${applet}`).toBe('busybox');
    }
    const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((name) => name && name !== 'busybox');
    const missing = applets.filter((applet) => !fs.existsSync(path.join(dir, 'bin', applet)));
    expect(missing, 'applets of `busybox --list` with no link in bin/').toEqual([]);
    const { ROOTFS_DIRS } = await importTarget<Rootfs>('01-bundle/rootfs.ts');
    for (const folder of ROOTFS_DIRS) expect(fs.statSync(path.join(dir, folder), { throwIfNoEntry: false })?.isDirectory(), `${folder} is a folder`).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'etc/passwd'), 'utf8'), 'etc/passwd').toMatch(/^root:x:0:0:/m);
    expect(fs.readFileSync(path.join(dir, 'etc/passwd'), 'utf8'), 'etc/passwd').toMatch(/^learner:x:1000:1000:/m);
    expect(fs.readFileSync(path.join(dir, 'etc/group'), 'utf8'), 'etc/group').toMatch(/^learner:x:1000:/m);
  });

  test('has the modes and owners of a Linux system: /tmp and /var/tmp 1777, home/learner the learner\'s', async () => {
    const dir = await rootfs();
    expect(mode(path.join(dir, 'tmp')), '/tmp mode, octal (sticky, world-writable: chmod after mkdir, which applies the umask)').toBe('1777');
    expect(mode(path.join(dir, 'var/tmp')), '/var/tmp mode, octal (sticky, world-writable, like /tmp)').toBe('1777');
    expect(mode(path.join(dir, 'bin')), '/bin mode, octal').toBe('755');
    const home = fs.statSync(path.join(dir, 'home/learner'));
    expect(`${home.uid}:${home.gid}`, 'owner of home/learner (uid:gid): the learner (1000) must be able to write its $HOME').toBe('1000:1000');
    expect(`${fs.statSync(path.join(dir, 'root')).uid}`, 'owner of /root').toBe('0');
  });

  test('builds again over an existing rootfs (main.ts reuses a bundle folder: an applet link that exists is fine)', async () => {
    const dir = await rootfs();
    const { buildRootfs } = await importTarget<Rootfs>('01-bundle/rootfs.ts');
    const error = await caught(buildRootfs(dir));
    expect(error?.message ?? 'no error', `buildRootfs a second time on ${dir}`).toBe('no error');
    expect(fs.readlinkSync(path.join(dir, 'bin/sh')), 'bin/sh after the second build').toBe('busybox');
  });
});

describe('the config, one section at a time', () => {
  const config = () => importTarget<Config>('01-bundle/config.ts');

  test('processSection: args, env (PATH, then HOME, then the options), cwd, user, capabilities, no new privileges, no terminal', async () => {
    const { processSection, DEFAULT_PATH } = await config();
    const { DEFAULT_CAPABILITIES } = await import('../lib/oci-spec.ts');
    const root = processSection({ args: ['sh', '-c', 'true'] });
    expect(root.args, 'args, as given').toEqual(['sh', '-c', 'true']);
    expect(root.env, 'env for root').toEqual([`PATH=${DEFAULT_PATH}`, 'HOME=/root']);
    expect(root.cwd, 'cwd by default').toBe('/');
    expect(root.user, 'user by default').toEqual({ uid: 0, gid: 0 });
    expect(root.terminal, 'terminal (pipes in this chapter)').toBe(false);
    expect(root.noNewPrivileges, 'noNewPrivileges').toBe(true);
    expect(root.rlimits, 'rlimits: RLIMIT_NOFILE 1024 (soft and hard)').toEqual([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
    const caps = root.capabilities!;
    for (const set of ['bounding', 'effective', 'permitted'] as const) expect(caps[set], `capabilities.${set}`).toEqual(DEFAULT_CAPABILITIES);
    expect(caps.inheritable, 'capabilities.inheritable').toEqual([]);
    expect(caps.ambient, 'capabilities.ambient').toEqual([]);
    expect(caps.bounding, 'capabilities.bounding by default').not.toContain('CAP_SYS_ADMIN');

    const learner = processSection({ args: ['id'], env: { A: '1', B: 'two words' }, cwd: '/tmp', user: { uid: 1000, gid: 1001 }, capabilities: ['CAP_KILL'] });
    expect(learner.env, 'env for uid 1000').toEqual([`PATH=${DEFAULT_PATH}`, 'HOME=/home/learner', 'A=1', 'B=two words']);
    expect(learner.cwd, 'cwd given').toBe('/tmp');
    expect(learner.user, 'user given (uid and gid)').toEqual({ uid: 1000, gid: 1001 });
    for (const set of ['bounding', 'effective', 'permitted'] as const) expect(learner.capabilities?.[set], `capabilities.${set} from the options`).toEqual(['CAP_KILL']);
  });

  test('isolationSection: root, the mounts of `runc spec` (and /tmp for a read-only root), copied namespaces, hostname, masked paths, cgroup', async () => {
    const { isolationSection, DEFAULT_NAMESPACES } = await config();
    const { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } = await import('../lib/oci-spec.ts');
    const plain = isolationSection({ args: ['sh'] });
    expect(plain.root, 'root by default').toEqual({ path: 'rootfs', readonly: false });
    expect(plain.hostname, 'hostname by default').toBe('container');
    expect(plain.mounts.map((m) => m.destination), 'the mount destinations, in the order of `runc spec` (no /tmp: the root is writable)').toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
    const mount = (destination: string) => plain.mounts.find((m) => m.destination === destination)!;
    expect(mount('/proc'), 'the mount on /proc').toMatchObject({ type: 'proc', source: 'proc' });
    expect(mount('/dev'), 'the mount on /dev').toMatchObject({ type: 'tmpfs' });
    expect(mount('/dev/pts'), 'the mount on /dev/pts').toMatchObject({ type: 'devpts', options: expect.arrayContaining(['newinstance', 'ptmxmode=0666']) });
    expect(mount('/sys'), '/sys is read-only').toMatchObject({ type: 'sysfs', options: expect.arrayContaining(['ro', 'nosuid', 'noexec', 'nodev']) });
    expect(mount('/sys/fs/cgroup'), '/sys/fs/cgroup is read-only').toMatchObject({ type: 'cgroup', options: expect.arrayContaining(['ro']) });
    expect(plain.linux.namespaces.map((ns) => ns.type), 'the namespaces by default (DEFAULT_NAMESPACES)').toEqual(['pid', 'mount', 'ipc', 'uts', 'network', 'cgroup']);
    expect(plain.linux.maskedPaths, 'linux.maskedPaths').toEqual(DEFAULT_MASKED_PATHS);
    expect(plain.linux.readonlyPaths, 'linux.readonlyPaths').toEqual(DEFAULT_READONLY_PATHS);
    // A caller that changes the spec (chapter 07 sets a namespace's path) must not change the defaults.
    plain.linux.namespaces[0].path = '/proc/1/ns/pid';
    expect(DEFAULT_NAMESPACES[0], 'DEFAULT_NAMESPACES after a caller changed its spec').toEqual({ type: 'pid' });
    const own = [{ type: 'uts' as const }];
    const given = isolationSection({ args: ['sh'], namespaces: own });
    expect(given.linux.namespaces, 'the namespaces given').toEqual(own);
    expect(given.linux.namespaces[0], 'the namespaces given are copied').not.toBe(own[0]);

    const readonly = isolationSection({ args: ['sh'], hostname: 'web', readonlyRoot: true, cgroupsPath: '/conman-workshop/x' });
    expect(readonly.root, 'root with readonlyRoot').toEqual({ path: 'rootfs', readonly: true });
    expect(readonly.hostname, 'hostname given').toBe('web');
    expect(readonly.linux.cgroupsPath, 'linux.cgroupsPath given').toBe('/conman-workshop/x');
    expect(readonly.mounts.map((m) => m.destination), 'a read-only root gets a tmpfs on /tmp').toContain('/tmp');
    expect(readonly.mounts.find((m) => m.destination === '/tmp'), 'the /tmp of a read-only root').toMatchObject({ type: 'tmpfs', options: expect.arrayContaining(['mode=1777']) });
  });

  test('isolationSection: each mount has the type, source and options of `runc spec`; a read-only root\'s /tmp is nosuid, nodev, 1777', async () => {
    const { isolationSection } = await config();
    // What `runc spec` (runc 1.1) writes; the order of a mount's options does not matter.
    const runcSpec = [
      { destination: '/proc', type: 'proc', source: 'proc', options: [] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ];
    const sorted = (m: { destination: string; type?: string; source?: string; options?: string[] }) => ({ destination: m.destination, type: m.type, source: m.source, options: [...(m.options ?? [])].sort() });
    const mounts = isolationSection({ args: ['sh'] }).mounts;
    for (const expected of runcSpec) {
      const mount = mounts.find((m) => m.destination === expected.destination);
      expect(mount && sorted(mount), `the mount on ${expected.destination}, as \`runc spec\` writes it (options in any order)`).toEqual(sorted(expected));
    }
    const tmp = isolationSection({ args: ['sh'], readonlyRoot: true }).mounts.find((m) => m.destination === '/tmp');
    expect(tmp && sorted(tmp), 'the tmpfs on /tmp of a read-only root').toEqual(sorted({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] }));
  });

  test('resourcesSection: memory limit with no swap on top, pids limit, nothing that was not asked for', async () => {
    const { resourcesSection } = await config();
    expect(resourcesSection({ args: ['sh'], memoryLimitBytes: 32 * MiB, pidsLimit: 10 }), '32 MiB (in bytes, swap equal to it: no swap) and 10 processes').toEqual({ memory: { limit: 32 * MiB, swap: 32 * MiB }, pids: { limit: 10 } });
    expect(resourcesSection({ args: ['sh'], memoryLimitBytes: 64 * MiB }), 'memory only (swap equal to limit: no swap)').toEqual({ memory: { limit: 64 * MiB, swap: 64 * MiB } });
    expect(resourcesSection({ args: ['sh'], pidsLimit: 1 }), 'pids only').toEqual({ pids: { limit: 1 } });
    expect(resourcesSection({ args: ['sh'] }), 'neither').toEqual({});
  });

  test('generateConfig makes a valid spec with the requested process, isolation and limits', async () => {
    const { generateConfig } = await importTarget<Config>('01-bundle/config.ts');
    const spec = generateConfig({ args: ['sh'], hostname: 'web', env: { A: '1' }, memoryLimitBytes: 64 * MiB, pidsLimit: 20, readonlyRoot: true });
    expect(spec.ociVersion, 'ociVersion').toBe('1.0.2');
    expect(spec.process.args, 'process.args').toEqual(['sh']);
    expect(spec.process.env?.[0], 'the first variable of process.env').toMatch(/^PATH=/);
    expect(spec.process.env, 'process.env').toContain('A=1');
    expect(spec.process.capabilities?.bounding, 'process.capabilities.bounding').not.toContain('CAP_SYS_ADMIN');
    expect(spec.root, 'root').toEqual({ path: 'rootfs', readonly: true });
    expect(spec.hostname, 'hostname').toBe('web');
    expect(spec.linux.namespaces.map((ns) => ns.type).sort(), 'linux.namespaces (types, sorted)').toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts']);
    expect(spec.mounts.map((m) => m.destination), 'mount destinations').toEqual(expect.arrayContaining(['/proc', '/dev', '/sys', '/tmp']));
    expect(spec.linux.resources?.memory?.limit, 'linux.resources.memory.limit').toBe(64 * MiB);
    expect(spec.linux.resources?.pids?.limit, 'linux.resources.pids.limit').toBe(20);
    expect(generateConfig({ args: ['sh'] }).linux.resources, 'linux.resources with no limits asked for').toEqual({});
  });
});

describe('runContainer, on a bundle the check makes itself', () => {
  /** busybox alone and `runc spec`'s config: no rootfs.ts, no config.ts of yours involved. */
  async function runTiny(label: string, args: string[], options: { timeoutMs?: number; oldLog?: string } = {}) {
    const { runContainer } = await importTarget<Run>('01-bundle/run.ts');
    const { writeTinyBundle } = await import('../lib/host/tiny-bundle.ts');
    const { id, bundle, cgroupsPath } = hostRun().container(label);
    writeTinyBundle(bundle, args, cgroupsPath);
    if (options.oldLog !== undefined) fs.writeFileSync(path.join(bundle, 'runtime.log'), options.oldLog);
    return runContainer(bundle, { id, runtime: 'runc', stateRoot: hostRun().stateRoot('runc'), timeoutMs: options.timeoutMs });
  }

  test('returns stdout, stderr and the exit code; an old runtime.log is not read again', async () => {
    requireCommand('runc', 'runc');
    const result = await runTiny('tiny', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(result, 'what runContainer resolved with for `echo out; echo err >&2; exit 3`').toEqual({ exitCode: 3, stdout: 'out', stderr: 'err' });
    // runc appends to its log: an error left by an earlier run in the same bundle is not this run's.
    const old = JSON.stringify({ level: 'error', msg: 'an error of an earlier run', time: '2026-01-01T00:00:00Z' }) + '\n';
    expect((await runTiny('tiny-old-log', ['true'], { oldLog: old })).exitCode, 'a run after a failed one').toBe(0);
  });

  test('runContainer: the container\'s stdin is closed, so a command that reads it ends at once', async () => {
    requireCommand('runc', 'runc');
    // An open pipe as stdin (execa's default) keeps `cat` waiting: `timeout` stops it (exit 143).
    const seconds = Math.ceil(scaled(2000) / 1000);
    const result = await runTiny('tiny-stdin', ['sh', '-c', `/bin/busybox timeout ${seconds} /bin/busybox cat; echo "cat exited $?"`]);
    expect(result.stdout, `a \`cat\` in the container: 0 when its stdin is closed (stdin: 'ignore'), 143 when it waited ${seconds} s on an open pipe`).toBe('cat exited 0');
  });

  test("a runtime failure is a RuntimeError with the runtime's own words, not an exit code", async () => {
    requireCommand('runc', 'runc');
    const { RuntimeError } = await importTarget<Run>('01-bundle/run.ts');
    const { writeTinyBundle } = await import('../lib/host/tiny-bundle.ts');
    const { runContainer } = await importTarget<Run>('01-bundle/run.ts');
    const { id, bundle, cgroupsPath } = hostRun().container('tiny-missing');
    writeTinyBundle(bundle, ['true'], cgroupsPath);
    const configFile = path.join(bundle, 'config.json');
    const spec = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    spec.process.args = ['/no-such-command'];
    fs.writeFileSync(configFile, JSON.stringify(spec));
    const error = await caught(runContainer(bundle, { id, runtime: 'runc', stateRoot: hostRun().stateRoot('runc') }));
    expect(error, 'runContainer for a command that does not exist').toBeInstanceOf(RuntimeError);
    expect(error?.message, "the RuntimeError's message: runc's own words").toMatch(/^runc failed: .*no-such-command/);
    expect(error?.message, 'the message holds the log entry\'s msg, not the raw log line (--log-format json, then JSON.parse each line: readRuntimeErrors does it)').not.toMatch(/level=|time=/);
  });

  test('runContainer: a runtime that is not installed is a RuntimeError that says so, not an exit code', async () => {
    const { runContainer, RuntimeError } = await importTarget<Run>('01-bundle/run.ts');
    const { id, bundle } = hostRun().container('no-runtime');
    fs.mkdirSync(bundle, { recursive: true });
    const missing = 'no-such-runtime' as RuntimeName; // not on PATH: execa gives no exit code, only ENOENT
    const result = runContainer(bundle, { id, runtime: missing, stateRoot: hostRun().stateRoot('runc') });
    const error = await caught(result);
    expect(error, 'runContainer with a runtime binary that does not exist (resolved instead of throwing?)').toBeInstanceOf(RuntimeError);
    expect(error?.message, 'the error for a missing runtime binary (say "is it installed?")').toMatch(/no-such-runtime.*install/is);
  });

  test('a container that outlives the timeout is killed and deleted, and the error says so', async () => {
    requireCommand('runc', 'runc');
    // sleep as PID 1 has no handler for SIGTERM: only SIGKILL (delete --force) ends it.
    const error = await caught(runTiny('tiny-timeout', ['sleep', '60'], { timeoutMs: scaled(1000) }));
    expect(error?.message ?? 'no error', 'runContainer past its timeout').toMatch(/timed out/);
    expect(hostRun().leaks(), 'left running after the timeout').toEqual([]);
  });
});

describe('a container, seen from inside', () => {
  test('has its own hostname, and the host keeps its own', async () => {
    const result = await runInContainer('hostname', { args: ['hostname'], hostname: 'bundle-demo' });
    expect(result.stdout.trim()).toBe('bundle-demo');
    expect(os.hostname()).not.toBe('bundle-demo');
  });

  test('its command is PID 1 and /proc shows only its own processes', async () => {
    const result = await runInContainer('pid', { args: sh('echo "pid=$$"; ls -d /proc/[0-9]* | wc -l') });
    const [pidLine, count] = result.stdout.trim().split('\n');
    expect(pidLine).toBe('pid=1');
    // sh itself, plus the ls and wc it started: never the host's hundreds of processes.
    expect(Number(count)).toBeLessThanOrEqual(3);
  });

  test('sees its rootfs as / and none of the host\'s files', async () => {
    const result = await runInContainer('mounts', { args: sh('ls /; test -e /usr/bin/node && echo host-leak; true') });
    expect(result.stdout.split('\n')).toEqual(expect.arrayContaining(['bin', 'etc', 'proc', 'tmp']));
    expect(result.stdout).not.toContain('host-leak');
  });

  test('passes its exit code through', async () => {
    expect((await runInContainer('exit', { args: sh('exit 42') })).exitCode).toBe(42);
    expect((await runInContainer('exit', { args: ['true'] })).exitCode).toBe(0);
  });

  test('gets the requested environment, working directory, uid and gid', async () => {
    const result = await runInContainer('process', {
      args: sh('echo "$GREETING|$(pwd)|$(id -u)|$(id -g)|$HOME"'),
      env: { GREETING: 'hello from the host' },
      cwd: '/tmp',
      user: { uid: 1000, gid: 1000 },
    });
    expect(result.stdout.trim()).toBe('hello from the host|/tmp|1000|1000|/home/learner');
  });

  test('with a read-only root refuses writes to / but has a writable /tmp', async () => {
    const result = await runInContainer('readonly', {
      args: sh('touch /written 2>&1; echo "root=$?"; touch /tmp/written && echo tmp=ok'),
      readonlyRoot: true,
    });
    expect(result.stdout).toMatch(/Read-only file system/);
    expect(result.stdout).toMatch(/root=1/);
    expect(result.stdout).toMatch(/tmp=ok/);
  });

  test('a memory limit ends a memory hog with an OOM kill', async () => {
    // `tail` keeps a line until it ends: /dev/zero has no newline, so it grows forever.
    // The kernel's OOM killer sends it SIGKILL (exit 137) and counts oom_kill in the
    // container's own cgroup: v2 memory.events, v1 memory.oom_control.
    const events = cgroupLayout().mode === 'v2' ? '/sys/fs/cgroup/memory.events' : '/sys/fs/cgroup/memory/memory.oom_control';
    const result = await runInContainer('oom', {
      args: sh(`tail /dev/zero; echo "hog=$?"; grep oom_kill ${events}`),
      memoryLimitBytes: 32 * MiB,
    });
    expect(result.stdout).toMatch(/hog=137/);
    expect(result.stdout).toMatch(/^oom_kill [1-9]/m);
  });

  test('a pids limit stops a fork bomb', async () => {
    const result = await runInContainer('pids', {
      args: sh('i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo all-forked'),
      pidsLimit: 10,
    });
    expect(result.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(result.stdout).not.toContain('all-forked');
  });

  test('without CAP_SYS_ADMIN, mount and sethostname are refused', async () => {
    const result = await runInContainer('caps', {
      args: sh('mount -t tmpfs none /mnt 2>&1; hostname changed 2>&1; grep CapEff /proc/self/status'),
    });
    expect(result.stdout).toMatch(/mount: .*(operation not permitted|permission denied)/i);
    expect(result.stdout).toMatch(/sethostname: Operation not permitted/);
    const capEff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(result.stdout)?.[1] ?? 'ffffffffff'}`);
    expect(capEff & (1n << 21n), 'CAP_SYS_ADMIN (bit 21) in CapEff').toBe(0n);
  });

  test('the same bundle runs under crun', async () => {
    const result = await runInContainer('crun', { args: sh('hostname; echo "pid=$$"; exit 7'), hostname: 'crun-demo' }, 'crun');
    expect(result.stdout.trim()).toBe('crun-demo\npid=1');
    expect(result.exitCode).toBe(7);
  });
});

describe('bad input', () => {
  async function specError(change: (spec: Spec) => void, withRootfs = true) {
    const { generateConfig } = await importTarget<Config>('01-bundle/config.ts');
    const { writeConfig } = await importTarget<Bundle>('01-bundle/bundle.ts');
    const dir = fs.mkdtempSync(path.join(hostRun().dir, 'bad-'));
    if (withRootfs) fs.mkdirSync(path.join(dir, 'rootfs'));
    const spec = generateConfig({ args: ['true'] });
    change(spec);
    const error = await caught(writeConfig(dir, spec));
    expect(fs.existsSync(path.join(dir, 'config.json')), 'config.json written despite the error').toBe(false);
    return error?.message ?? 'no error';
  }

  test('an unknown namespace type is refused, naming the field', async () => {
    expect(await specError((s) => s.linux.namespaces.push({ type: 'time' as never }))).toMatch(/linux\.namespaces\[6\]\.type.*unknown namespace "time"/);
  });

  test('a missing rootfs is refused before runc runs', async () => {
    expect(await specError(() => {}, false)).toMatch(/root\.path.*build the rootfs/);
  });

  test('a negative memory limit is refused, naming the field', async () => {
    expect(await specError((s) => (s.linux.resources = { memory: { limit: -1 } }))).toMatch(/linux\.resources\.memory\.limit.*positive/);
  });

  test('a hostname without a uts namespace is refused', async () => {
    expect(await specError((s) => (s.linux.namespaces = s.linux.namespaces.filter((ns) => ns.type !== 'uts')))).toMatch(/^invalid config\.json: hostname/);
  });

  test("a runc failure surfaces runc's own message", async () => {
    const { RuntimeError } = await importTarget<Run>('01-bundle/run.ts');
    const error = await caught(runInContainer('missing', { args: ['no-such-command'] }));
    expect(error).toBeInstanceOf(RuntimeError);
    expect(error?.message).toMatch(/runc failed: .*"no-such-command": executable file not found/);
  });
});
