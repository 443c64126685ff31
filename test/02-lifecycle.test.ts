/**
 * Chapter 02 checks: the container lifecycle step by step, through the learner's OciRuntime,
 * on the real runc (and crun): state transitions, a container that outlives its creator,
 * exec, signals, a terminal received over SCM_RIGHTS, and a delete that leaves nothing.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { caught, rethrowChildFailure } from '../lib/harness/caught.ts';
import { eventually as waitFor } from '../lib/harness/eventually.ts';
import { useHostRun } from '../lib/harness/host-run.ts';
import { importTarget, targetPath } from '../lib/harness/target.ts';
import { cgroupDirs } from '../lib/host/cgroups.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { scaled } from '../lib/slow.ts';
// Earlier chapters: the reference by default, the learner's own after `workshop layers own`.
import { createBundle, writeConfig } from '#lower/01-bundle/bundle.ts';
import type { ContainerOptions } from '#lower/01-bundle/config.ts';

type Runtime = typeof import('../solutions/02-lifecycle/runtime.ts');
type Console = typeof import('../solutions/02-lifecycle/console-socket.ts');
type TerminalModule = typeof import('../solutions/02-lifecycle/terminal.ts');
type RuntimeName = import('../solutions/02-lifecycle/runtime.ts').RuntimeName;

const hostRun = useHostRun();
// runc resolves a relative path (a pid file) against its working directory, which is ours: a
// folder of this run's, so a wrong answer's `--pid-file undefined` lands there, never in the
// repository, where a check running beside this one would see it.
let repositoryCwd = '';
beforeAll(() => {
  repositoryCwd = process.cwd();
  const dir = path.join(hostRun().dir, 'cwd');
  fs.mkdirSync(dir, { recursive: true });
  process.chdir(dir);
});
afterAll(() => process.chdir(repositoryCwd));

/** A bundle (built with the reference chapter 01) and an OciRuntime of the learner's. */
async function prepare(label: string, options: ContainerOptions, runtimeName: RuntimeName = 'runc') {
  const { OciRuntime } = await importTarget<Runtime>('02-lifecycle/runtime.ts');
  const { id, bundle, cgroupsPath } = hostRun().container(label);
  const spec = await createBundle(bundle, { cgroupsPath, hostname: 'lifecycle', ...options });
  const runtime = new OciRuntime({ runtime: runtimeName, stateRoot: hostRun().stateRoot(runtimeName) });
  return { id, bundle, spec, runtime, cgroupsPath };
}

/** Poll until `check` holds for what `read` returns (a container's state changes asynchronously after a signal). */
async function eventually<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  let last: T | undefined;
  const held = await waitFor(what, async () => ((last = await read()), check(last) && { value: last }), { explain: () => `still ${JSON.stringify(last)}` });
  return held.value;
}

/** The runtime itself, without the learner's wrapper: so each exercise is checked alone. */
function rawRuntime(stateRoot: string, args: string[], runtimeName: RuntimeName = 'runc'): string {
  // Only `state` and `ps` print; a pipe given to `create` or `run --detach` would stay open as long as the container lives.
  const stdout = args[0] === 'state' || args[0] === 'ps' ? 'pipe' : 'ignore';
  return execFileSync(runtimeName, ['--root', stateRoot, ...args], { stdio: ['ignore', stdout, 'inherit'], encoding: 'utf8', timeout: scaled(20_000) }) ?? '';
}

describe('each method alone, the rest done with runc itself', () => {
  test('create: returns at once with no stdio and no pid file given, while the container lives on', async () => {
    const { id, bundle, runtime } = await prepare('create-pipes', { args: ['sleep', '60'] });
    // runc writes a pid file relative to its working directory (this run's): `--pid-file undefined` leaves one there.
    const stray = path.join(process.cwd(), 'undefined');
    const limit = scaled(5000);
    let timer: NodeJS.Timeout | undefined;
    try {
      fs.rmSync(stray, { force: true });
      const created = runtime.create(id, { bundle });
      created.catch(() => {});
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), limit)));
      const outcome = await Promise.race([created.then(() => 'returned' as const), late]);
      expect(outcome, `create did not return within ${limit} ms while the container runs: does it give the container a pipe back to you (execa's default stdio)?`).toBe('returned');
      expect(fs.existsSync(stray), `a file named "undefined" in ${process.cwd()}: with no pidFile given, create must not pass --pid-file at all`).toBe(false);
    } finally {
      fs.rmSync(stray, { force: true });
      clearTimeout(timer);
      rawRuntime(runtime.stateRoot, ['delete', '--force', id]);
    }
  });

  test('create: the container exists and waits, with its pid file, and its output goes to the fds given', async () => {
    const { id, bundle, runtime } = await prepare('create-alone', { args: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2'] });
    const pidFile = path.join(bundle, 'container.pid');
    const out = path.join(bundle, 'out.log');
    const err = path.join(bundle, 'err.log');
    const stdout = fs.openSync(out, 'w');
    const stderr = fs.openSync(err, 'w');
    try {
      await runtime.create(id, { bundle, pidFile, stdio: { stdout, stderr } });
      const state = JSON.parse(rawRuntime(runtime.stateRoot, ['state', id]));
      expect(state, '`runc state` after create').toMatchObject({ id, status: 'created', bundle });
      expect(Number(fs.readFileSync(pidFile, 'utf8')), 'the pid file').toBe(state.pid);
      rawRuntime(runtime.stateRoot, ['start', id]);
      await eventually('the container writes to the fds it was given', async () => [fs.readFileSync(out, 'utf8'), fs.readFileSync(err, 'utf8')], ([o, e]) => o === 'to-stdout\n' && e === 'to-stderr\n');
    } finally {
      fs.closeSync(stdout);
      fs.closeSync(stderr);
      rawRuntime(runtime.stateRoot, ['delete', '--force', id]);
    }
  });

  test('create: a terminal bundle sends its PTY master to the socket given as consoleSocket', async () => {
    const { id, bundle, spec, runtime } = await prepare('create-console', { args: ['sh'] });
    spec.process.terminal = true;
    await writeConfig(bundle, spec);
    // The reference ConsoleSocket receives the terminal, so this check is about create alone.
    const { ConsoleSocket } = await import('../solutions/02-lifecycle/console-socket.ts');
    const socket = await ConsoleSocket.listen(path.join(bundle, 'console.sock'));
    try {
      // Without --console-socket, runc refuses: "cannot allocate tty if runc will detach without setting console socket".
      await runtime.create(id, { bundle, consoleSocket: socket.path });
      const master = await socket.receiveMaster(scaled(3000)).catch((e: Error) => e.message);
      expect(typeof master === 'number' ? 'a terminal' : master, `what arrived on the console socket ${socket.path}`).toBe('a terminal');
      expect(JSON.parse(rawRuntime(runtime.stateRoot, ['state', id])).status, '`runc state` after create').toBe('created');
      fs.closeSync(master as number);
    } finally {
      socket.close();
      rawRuntime(runtime.stateRoot, ['delete', '--force', id]);
    }
  });

  test('state: parses `runc state` of a container runc created; an unknown id is an error with the runtime\'s words', async () => {
    const { id, bundle, runtime } = await prepare('state-alone', { args: ['sleep', '60'] });
    rawRuntime(runtime.stateRoot, ['create', '--bundle', bundle, id]);
    try {
      const state = await runtime.state(id);
      expect(state, 'state() of a container runc created').toMatchObject({ id, status: 'created', bundle });
      expect(state.pid, 'pid').toBe(JSON.parse(rawRuntime(runtime.stateRoot, ['state', id])).pid);
      rawRuntime(runtime.stateRoot, ['start', id]);
      expect((await runtime.state(id)).status, 'after `runc start`').toBe('running');
      expect((await caught(runtime.state(`${id}-nobody`)))?.message ?? 'no error', 'state of an unknown id').toMatch(/does not exist|not exist/);
    } finally {
      rawRuntime(runtime.stateRoot, ['delete', '--force', id]);
    }
  });

  test('exec: runs in a container runc started, with its exit code, output, env, cwd and user', async () => {
    const { id, bundle, runtime } = await prepare('exec-alone', { args: ['sleep', '60'] });
    rawRuntime(runtime.stateRoot, ['run', '--detach', '--bundle', bundle, id]);
    try {
      const result = await runtime.exec(id, { args: ['sh', '-c', 'echo "$WHO $(pwd) $(id -u):$(id -g)"; echo oops >&2; exit 6'], env: ['WHO=alone'], cwd: '/tmp', user: { uid: 1000, gid: 1000 } });
      expect(result, 'exec of `echo "$WHO $(pwd) $(id -u):$(id -g)"; echo oops >&2; exit 6` with env, cwd and user').toEqual({ exitCode: 6, stdout: 'alone /tmp 1000:1000', stderr: 'oops' });
      expect(await runtime.exec(id, { args: ['true'] }), 'exec true').toMatchObject({ exitCode: 0 });
    } finally {
      rawRuntime(runtime.stateRoot, ['delete', '--force', id]);
    }
  });

  test('exec: a process still running after timeoutMs is stopped, and exec returns', async () => {
    const { id, bundle, runtime } = await prepare('exec-timeout', { args: ['sleep', '60'] });
    rawRuntime(runtime.stateRoot, ['run', '--detach', '--bundle', bundle, id]);
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeoutMs = scaled(500);
      const limit = timeoutMs + scaled(3000);
      const settled = runtime.exec(id, { args: ['sleep', '30'], timeoutMs }).then(() => 'returned' as const, (error: Error) => {
        if (error?.name === 'NotImplementedError') throw error;
        return 'returned' as const;
      });
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), limit)));
      expect(await Promise.race([settled, late]), `exec of \`sleep 30\` with timeoutMs ${timeoutMs}: returned within ${limit} ms, or still waiting (give timeoutMs to execa as its timeout)`).toBe('returned');
      const pids = JSON.parse(rawRuntime(runtime.stateRoot, ['ps', '--format', 'json', id])) as number[];
      expect(pids.length, 'processes left in the container (its own sleep 60 only: the exec\'d sleep 30 is stopped)').toBe(1);
    } finally {
      clearTimeout(timer);
      rawRuntime(runtime.stateRoot, ['delete', '--force', id]);
    }
  });

  test('console socket: the PTY master runc sends arrives as a terminal fd; a peer that sends none is an error, not a wait', async () => {
    const { ConsoleSocket } = await importTarget<Console>('02-lifecycle/console-socket.ts');
    const { id, bundle, spec, runtime } = await prepare('console-alone', { args: ['sh'] });
    spec.process.terminal = true;
    await writeConfig(bundle, spec);
    const socket = await ConsoleSocket.listen(path.join(bundle, 'console.sock'));
    try {
      rawRuntime(runtime.stateRoot, ['create', '--bundle', bundle, '--console-socket', socket.path, id]);
      const master = await socket.receiveMaster(scaled(5000));
      expect(fs.fstatSync(master).isCharacterDevice(), 'the fd received is a character device').toBe(true);
      expect(fs.readlinkSync(`/proc/self/fd/${master}`), 'the fd received').toMatch(/ptmx$/);
      fs.closeSync(master);
    } finally {
      socket.close();
      rawRuntime(runtime.stateRoot, ['delete', '--force', id]);
    }
    const silent = await ConsoleSocket.listen(path.join(bundle, 'silent.sock'));
    try {
      const net = await import('node:net');
      // It sends a few bytes, as runc does, but no descriptor with them, then closes.
      await new Promise<void>((resolve, reject) => net.connect(silent.path, function (this: import('node:net').Socket) { this.end('/dev/pts/0'); resolve(); }).on('error', reject));
      const started = Date.now();
      const error = await caught(silent.receiveMaster(scaled(4000)));
      expect(error, 'receiveMaster after a peer sent a message with no descriptor and closed').toBeInstanceOf(Error);
      expect(Date.now() - started, 'ms until receiveMaster gave up (reject when the peer ends, do not wait for the timeout)').toBeLessThan(scaled(3000));
    } finally {
      silent.close();
    }
  });
});

describe.each(['runc', 'crun'] as const)('with %s', (runtimeName) => {
  test('created → running → stopped → deleted, as `state` reports it', async () => {
    const { id, bundle, runtime, cgroupsPath } = await prepare('states', { args: ['sleep', '60'] }, runtimeName);
    const pidFile = path.join(bundle, 'container.pid');
    await runtime.create(id, { bundle, pidFile });
    const created = await runtime.state(id);
    expect(created, 'state() after create').toMatchObject({ id, status: 'created', bundle });
    expect(created.pid, 'the pid in state() after create').toBeGreaterThan(0);
    expect(Number(fs.readFileSync(pidFile, 'utf8')), 'the pid file').toBe(created.pid);

    await runtime.start(id);
    expect((await runtime.state(id)).status, 'status after start').toBe('running');
    expect(await runtime.ps(id), 'ps() after start').toContain(created.pid);

    await runtime.kill(id, 'SIGKILL');
    await eventually('status after SIGKILL', async () => (await runtime.state(id)).status, (status) => status === 'stopped');

    await runtime.delete(id);
    const error = await caught(runtime.state(id));
    expect(error?.message, 'state() after delete').toMatch(/does not exist|not found|No such file/i);
    expect(fs.existsSync(path.join(hostRun().stateRoot(runtimeName), id)), 'the runtime state folder').toBe(false);
    expect(cgroupDirs(cgroupsPath.slice(1)), 'the container cgroup').toEqual([]);
  });
});

test('a detached container outlives the process that created it', async () => {
  const { id, bundle, runtime } = await prepare('detached', { args: ['sh', '-c', 'echo up; sleep 60'] });
  // Another process creates and starts it, then exits: like `docker run -d` returning.
  const script = `
    import { OciRuntime } from ${JSON.stringify(targetPath('02-lifecycle/runtime.ts'))};
    import fs from 'node:fs';
    const runtime = new OciRuntime({ stateRoot: ${JSON.stringify(runtime.stateRoot)} });
    const log = fs.openSync(${JSON.stringify(path.join(bundle, 'output.log'))}, 'a');
    await runtime.create(${JSON.stringify(id)}, { bundle: ${JSON.stringify(bundle)}, stdio: { stdout: log, stderr: log } });
    await runtime.start(${JSON.stringify(id)});
    console.log(process.pid);`;
  const scriptFile = path.join(bundle, 'creator.mts');
  fs.writeFileSync(scriptFile, script);
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), scriptFile], { cwd: REPO_ROOT, timeout: scaled(20_000) }).catch(rethrowChildFailure);
  const creator = Number(stdout.trim());
  expect(fs.existsSync(`/proc/${creator}`), 'the creator has exited').toBe(false);
  const state = await runtime.state(id);
  expect(state.status, 'status, after its creator has exited').toBe('running');
  await eventually('output.log', async () => fs.readFileSync(path.join(bundle, 'output.log'), 'utf8'), (text) => text === 'up\n');
  await runtime.delete(id, { force: true });
});

test('exec runs in the container\'s namespaces, with its own exit code, env, cwd and user', async () => {
  const { id, bundle, runtime } = await prepare('exec', { args: ['sleep', '60'], hostname: 'exec-box' });
  await runtime.create(id, { bundle });
  await runtime.start(id);
  const result = await runtime.exec(id, {
    args: ['sh', '-c', 'hostname; cat /proc/1/comm; echo "$WHO $(pwd) $(id -u)"; exit 5'],
    env: ['WHO=exec'],
    cwd: '/tmp',
    user: { uid: 1000, gid: 1000 },
  });
  expect(result.exitCode, 'exit code of the exec\'d command (exit 5)').toBe(5);
  expect(result.stdout.trim().split('\n'), 'what the exec\'d command printed: hostname, /proc/1/comm, then $WHO, pwd and uid').toEqual(['exec-box', 'sleep', 'exec /tmp 1000']);
  const missing = await caught(runtime.exec(id, { args: ['no-such-tool'] }));
  expect(missing?.message ?? 'no error', 'exec of a missing command').toMatch(/no-such-tool.*(not found|no such file)/i);
  await runtime.delete(id, { force: true });
});

test('kill sends the chosen signal', async () => {
  const { id, bundle, runtime } = await prepare('kill', {
    args: ['sh', '-c', 'trap "echo got USR1; exit 0" USR1; echo ready; while :; do sleep 0.1; done'],
  });
  const output = path.join(bundle, 'output.log');
  const log = fs.openSync(output, 'a');
  await runtime.create(id, { bundle, stdio: { stdout: log, stderr: log } });
  fs.closeSync(log);
  await runtime.start(id);
  await eventually('output.log', async () => fs.readFileSync(output, 'utf8'), (text) => text.includes('ready'));
  await runtime.kill(id, 'SIGUSR1');
  await eventually('status after SIGUSR1', async () => (await runtime.state(id)).status, (status) => status === 'stopped');
  expect(fs.readFileSync(output, 'utf8')).toBe('ready\ngot USR1\n');
  await runtime.delete(id);
});

test('a terminal: the PTY master arrives over the console socket, typing is echoed and answered', async () => {
  const { ConsoleSocket } = await importTarget<Console>('02-lifecycle/console-socket.ts');
  const { Terminal } = await importTarget<TerminalModule>('02-lifecycle/terminal.ts');
  const { id, bundle, spec, runtime } = await prepare('tty', { args: ['sh'], hostname: 'tty-box' });
  spec.process.terminal = true;
  await writeConfig(bundle, spec);
  const socket = await ConsoleSocket.listen(path.join(bundle, 'console.sock'));
  try {
    await runtime.create(id, { bundle, consoleSocket: socket.path });
    const terminal = new Terminal(await socket.receiveMaster());
    await runtime.start(id);
    terminal.write('echo "$(hostname) says $((6*7))"\n');
    await terminal.waitFor('tty-box says 42');
    expect(terminal.output, 'the terminal echoes what was typed').toContain('echo "$(hostname) says $((6*7))"');
    terminal.write('exit 3\n');
    await terminal.ended;
    await eventually('status after exit', async () => (await runtime.state(id)).status, (status) => status === 'stopped');
    terminal.close();
  } finally {
    socket.close();
    await runtime.delete(id, { force: true }).catch(() => {});
  }
});

test('errors carry the runtime\'s own message', async () => {
  const { id, bundle, runtime } = await prepare('errors', { args: ['sleep', '60'] });
  expect((await caught(runtime.state('no-such-container')))?.message).toMatch(/runc failed: .*(does not exist|not exist)/);
  await runtime.create(id, { bundle });
  expect((await caught(runtime.create(id, { bundle })))?.message).toMatch(/already exists/);
  await runtime.delete(id, { force: true });
});
