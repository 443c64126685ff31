/**
 * Chapter 04 reliability checks (issue 10): an operator's bad day, on the real stack. A full
 * disk (a small tmpfs made here), two daemons on one root, a socket path that belongs to
 * someone else, timers that would overflow, hostile requests, idle connections and piles of
 * pending execs, a shim killed under a restart policy. Each check failed before its fix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { eventually as waitFor } from '../lib/harness/eventually.ts';
import { useHostRun } from '../lib/harness/host-run.ts';
import { importTarget, targetPath } from '../lib/harness/target.ts';
import { notImplementedIn } from '../lib/not-implemented.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { scaled } from '../lib/slow.ts';
import { buildRootfs } from '#lower/01-bundle/rootfs.ts';
import { mountSmallDisk, type SmallDisk } from './small-disk.ts';

type Info = import('../solutions/04-manager/container-api.ts').ContainerInfo;

const hostRun = useHostRun();
const LAUNCH = path.join(REPO_ROOT, 'lib', 'launch.mjs');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let rootfsReady: Promise<string> | undefined;
function sharedRootfs(): Promise<string> {
  rootfsReady ??= (async () => {
    const dir = path.join(hostRun().dir, 'rootfs');
    await buildRootfs(dir);
    return dir;
  })();
  return rootfsReady;
}

/** Clean-ups of the test's worlds and disks, before useHostRun's leak check (hooks run last-registered first). */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let worlds = 0;
/** A private conman world: its own roots (the records' root maybe on a small disk), daemons and CLI. */
async function world(options: { root?: string; socket?: string } = {}) {
  const name = `r${++worlds}`;
  const base = path.join(hostRun().dir, name);
  fs.mkdirSync(base, { recursive: true });
  const root = options.root ?? path.join(base, 'lib');
  const runRoot = path.join(hostRun().stateDir, name);
  const socket = options.socket ?? path.join(runRoot, 'conmand.sock');
  const cgroupParent = hostRun().cgroupParent;
  const rootfs = await sharedRootfs();
  const env = { ...process.env, CONMAN_ROOT: root, CONMAN_RUN_ROOT: runRoot, CONMAN_SOCKET: socket, CONMAN_CGROUP_PARENT: cgroupParent };
  const daemons: ChildProcess[] = [];
  let logs = 0;

  async function conman(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [LAUNCH, targetPath('04-manager/conman.ts'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), scaled(60_000));
      child.on('error', reject);
      child.on('close', (code) => (clearTimeout(timer), resolve({ code: code ?? -1, stdout, stderr })));
    });
  }

  /** conman, expected to succeed; its "not implemented yet" surfaces as such. */
  async function ok(args: string[]): Promise<string> {
    const result = await conman(args);
    if (result.code !== 0) throw notImplementedIn(result.stderr) ?? new Error(`conman ${args.join(' ')}: exit code ${result.code}\n${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  /** Start a conmand (with `extra` options); it may refuse to start: `exited` says how. */
  function spawnDaemon(extra: string[] = []) {
    const logFile = path.join(base, `conmand-${++logs}.log`);
    const logFd = fs.openSync(logFile, 'a');
    // The roots on the command line: a daemon left running shows up as a leak of this run.
    const args = ['--root', root, '--run-root', runRoot, '--socket', socket, '--cgroup-parent', cgroupParent, ...extra];
    const child = spawn(process.execPath, [LAUNCH, targetPath('04-manager/conmand.ts'), ...args], { env, stdio: ['ignore', logFd, logFd], detached: true });
    fs.closeSync(logFd);
    daemons.push(child);
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    const log = () => fs.readFileSync(logFile, 'utf8');
    /** It must refuse to start: exit code 1 soon, not a daemon that stays. */
    const refused = async () => {
      const code = await Promise.race([exited, sleep(scaled(20_000)).then(() => 'still running')]);
      if (code !== 1) throw notImplementedIn(log()) ?? new Error(`conmand should have refused to start (exit code 1), got: ${code}; its log:\n${log()}`);
    };
    return { child, logFile, exited, log, refused };
  }

  /** Start conmand and wait until it answers. */
  async function startDaemon(extra: string[] = []) {
    const daemon = spawnDaemon(extra);
    let exitCode: number | string | undefined;
    void daemon.exited.then((code) => (exitCode = code));
    await waitFor('conmand answers', async () => {
      if (exitCode !== undefined) throw notImplementedIn(daemon.log()) ?? new Error(`conmand exited (${exitCode}) before it listened; its log:\n${daemon.log()}`);
      return answers(socket);
    }, { timeoutMs: 30_000 });
    return daemon;
  }

  async function stopDaemons(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const child of daemons) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await gone;
    }
  }

  const inspect = async (ref: string): Promise<Info> => (JSON.parse(await ok(['inspect', ref])) as Info[])[0];

  cleanups.push(async () => {
    // Remove every container through the manager itself (in-process: no daemon needed), then the daemons.
    await stopDaemons();
    const listed = await conman(['--no-daemon', 'ps', '-a', '-q']);
    for (const id of listed.code === 0 ? listed.stdout.split('\n').filter(Boolean) : []) await conman(['--no-daemon', 'rm', '-f', id]);
  });
  return { base, root, runRoot, socket, rootfs, env, conman, ok, spawnDaemon, startDaemon, stopDaemons, inspect };
}

/** A small disk for this test, unmounted after it (and after its world's clean-up). */
function smallDisk(label: string, size?: string): SmallDisk {
  const disk = mountSmallDisk(hostRun(), label, size);
  cleanups.unshift(() => disk.unmount()); // first registered: run last, after the worlds on it
  return disk;
}

/** Does something answer HTTP on this unix socket? */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.request({ socketPath: socket, path: '/version', timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('error', () => resolve(false));
    request.end();
  });
}

/** One raw HTTP request to conmand: what any program would see. */
function api(socket: string, method: string, url: string, body?: string): Promise<{ status: number; message: string; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath: socket, method, path: url, headers: body !== undefined ? { 'content-type': 'application/json' } : {} }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        try {
          const json = JSON.parse(text) as Record<string, unknown>;
          resolve({ status: response.statusCode ?? 0, message: String(json.message ?? ''), json });
        } catch {
          reject(new Error(`${method} ${url}: answer is not JSON (status ${response.statusCode}): ${text.slice(0, 200)}`));
        }
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
const tmpFiles = (root: string) =>
  fs.existsSync(path.join(root, 'containers'))
    ? fs.readdirSync(path.join(root, 'containers')).flatMap((id) => fs.readdirSync(path.join(root, 'containers', id)).filter((f) => f.endsWith('.tmp')))
    : [];

// ------------------------------------------------------------------------------------------

describe('a full disk', () => {
  test('stop and rm -f complete or change nothing, errors name the file; conmand starts read-mostly and says so; exits are recorded once space is freed', async () => {
    const disk = smallDisk('mgrdisk', '8m');
    const w = await world({ root: path.join(disk.dir, 'lib') });
    await w.startDaemon();
    const go = `go-${hostRun().id}`;
    await w.ok(['run', '-d', '--name', 'ticker', w.rootfs, 'sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.05; done']);
    await w.ok(['run', '-d', '--name', 'victim', w.rootfs, 'sleep', '600']);
    await w.ok(['run', '-d', '--name', 'quitter', w.rootfs, 'sh', '-c', `while [ ! -e /${go} ]; do sleep 0.1; done; exit 3`]);
    onTestFinishedRemove(path.join(w.rootfs, go));
    const victim = await w.inspect('victim');

    disk.fill();
    // stop must save "stopped by the user" before it signals: it cannot, so it sends nothing.
    const stop = await w.conman(['stop', '-t', '0', 'victim']);
    expect(stop.code, stop.stderr).toBe(125);
    expect(stop.stderr).toMatch(/cannot write \S+record\.json: no space left on device/);
    expect(await w.inspect('victim')).toMatchObject({ status: 'running', stoppedByUser: false });
    expect(alive(victim.pid!), 'stop sent nothing').toBe(true);
    const created = await w.conman(['run', '-d', '--name', 'newcomer', w.rootfs, 'true']);
    expect(created.code).toBe(125);
    expect(created.stderr).toMatch(/cannot write \S+: no space left on device/);
    expect(tmpFiles(w.root), 'no temporary file left by a failed write').toEqual([]);
    // rm -f frees space, so it must work on a full disk.
    await w.ok(['rm', '-f', 'victim']);
    expect(alive(victim.pid!)).toBe(false);
    expect(fs.existsSync(path.join(w.root, 'containers', victim.id))).toBe(false);
    disk.fill(); // (what rm freed)

    // The daemon dies; quitter exits meanwhile (its shim keeps exit.json under the run root).
    await w.stopDaemons('SIGKILL');
    fs.writeFileSync(path.join(w.rootfs, go), '');
    const daemon = await w.startDaemon();
    expect(daemon.log()).toMatch(/no space left on device.*read-mostly until space is freed/);
    expect(daemon.log()).toMatch(/conmand: listening on/);
    const names = (JSON.parse(await w.ok(['ps', '-a', '--json'])) as Info[]).map((c) => `${c.name} ${c.status}`).sort();
    expect(names, 'quitter\'s exit cannot be saved yet: still running, on disk and in memory').toEqual(['quitter running', 'ticker running']);

    disk.free();
    await waitFor('quitter\'s exit is recorded once there is room, without a hand', async () => (await w.inspect('quitter')).status === 'exited', { timeoutMs: 15_000 });
    expect((await w.inspect('quitter')).exit).toMatchObject({ exitCode: 3 });
    const ticks = (await w.ok(['logs', 'ticker'])).split('\n').filter(Boolean).length;
    await waitFor('ticker logs again', async () => (await w.ok(['logs', 'ticker'])).split('\n').filter(Boolean).length > ticks + 3);
    expect(tmpFiles(w.root)).toEqual([]);
  }, 120_000);
});

describe('one manager per root', () => {
  test('a second conmand on the same roots refuses, naming the first one\'s PID, even when conmand.json is missing; it touches nothing', async () => {
    const w = await world();
    const first = await w.startDaemon();
    await w.ok(['run', '-d', '--name', 'web', w.rootfs, 'sleep', '600']);
    const socketInode = fs.statSync(w.socket).ino;
    // The window a check-then-act start had: the first daemon has not written conmand.json yet.
    fs.rmSync(path.join(w.runRoot, 'conmand.json'));
    const second = w.spawnDaemon();
    await second.refused();
    expect(second.log()).toMatch(new RegExp(`is in use by conmand \\(pid ${first.child.pid}\\)`));
    expect(fs.statSync(w.socket).ino, 'the socket is the first daemon\'s still').toBe(socketInode);
    expect(await answers(w.socket)).toBe(true);
    expect((await w.inspect('web')).status).toBe('running');
    expect(fs.statSync(path.join(w.runRoot, 'conman.lock')).isFile()).toBe(true);
  }, 60_000);

  test('two conmand started at once after a kill -9: exactly one serves, the other names it', async () => {
    const w = await world();
    await w.startDaemon();
    await w.ok(['run', '-d', '--name', 'web', w.rootfs, 'sleep', '600']);
    for (let round = 0; round < 3; round++) {
      await w.stopDaemons('SIGKILL');
      const pair = [w.spawnDaemon(), w.spawnDaemon()];
      const loser = await Promise.race(pair.map((d) => d.exited.then(() => d)));
      const winner = pair.find((d) => d !== loser)!;
      expect(await loser.exited, `round ${round}: the loser's log:\n${loser.log()}`).toBe(1);
      expect(loser.log()).toMatch(new RegExp(`in use by conmand \\(pid ${winner.child.pid}\\)|conmand \\(pid ${winner.child.pid}\\) already serves|another daemon answers`));
      await waitFor('the winner answers', () => answers(w.socket));
      expect(winner.child.exitCode, `round ${round}: the winner runs`).toBe(null);
      expect((await w.inspect('web')).status).toBe('running');
    }
  }, 90_000);

  test('conman --no-daemon waits for another --no-daemon on the same roots; a conmand refuses beside one, naming it', async () => {
    const w = await world();
    // A foreground run holds the manager (and its lock) until its container exits.
    const holder = w.conman(['--no-daemon', 'run', '--name', 'holder', w.rootfs, 'sh', '-c', 'sleep 2; echo held']);
    holder.catch(() => {}); // awaited at the end: its failure must not be an unhandled rejection meanwhile
    await waitFor('the holder runs', async () => fs.existsSync(path.join(w.root, 'containers')) && fs.readdirSync(path.join(w.root, 'containers')).length === 1);
    const refused = w.spawnDaemon();
    await refused.refused();
    expect(refused.log()).toMatch(/is in use by conman --no-daemon \(pid \d+\)/);
    const started = Date.now();
    const listed = await w.ok(['--no-daemon', 'ps', '-a', '--format', '{{.Name}} {{.State}}']);
    expect(Date.now() - started, 'ps waited for the holder to finish').toBeGreaterThan(500);
    expect(listed).toBe('holder exited\n');
    expect((await holder).stdout).toBe('held\n');
  }, 60_000);
});

describe('the socket', () => {
  test('--socket refuses a path that is not a stale socket, and a socket another daemon answers on', async () => {
    const file = path.join(hostRun().stateDir, 'not-a-socket');
    fs.writeFileSync(file, 'precious\n');
    const w = await world({ socket: file });
    const refused = w.spawnDaemon();
    await refused.refused();
    expect(refused.log()).toMatch(/is a regular file, not a socket: refusing to replace it/);
    expect(fs.readFileSync(file, 'utf8')).toBe('precious\n');

    const a = await world();
    await a.startDaemon();
    const b = await world({ socket: a.socket }); // other roots, the same socket
    const intruder = b.spawnDaemon();
    await intruder.refused();
    expect(intruder.log()).toMatch(/another daemon answers on \S+conmand\.sock/);
    expect(await answers(a.socket)).toBe(true);

    // A stale socket (its daemon was killed) is taken over.
    await a.stopDaemons('SIGKILL');
    expect(fs.statSync(a.socket).isSocket()).toBe(true);
    await a.startDaemon();
    expect((fs.statSync(path.join(a.runRoot, 'conmand.json')).mode & 0o777).toString(8), 'conmand.json is root\'s alone').toBe('600');
  }, 60_000);
});

describe('hostile requests', () => {
  test('timers cannot overflow: stop -t past the range is a 400 naming it, and the container runs on', async () => {
    const w = await world();
    await w.startDaemon();
    await w.ok(['run', '-d', '--name', 'calm', w.rootfs, 'sleep', '600']);
    const pid = (await w.inspect('calm')).pid!;
    const stop = await api(w.socket, 'POST', '/containers/calm/stop?t=2147484');
    expect({ status: stop.status, message: stop.message }).toEqual({ status: 400, message: expect.stringMatching(/stop timeout must be from 0 to \d+ seconds/) });
    await sleep(300); // (an overflowing timer fires after 1 ms)
    expect(alive(pid), 'nothing was killed').toBe(true);
    const cli = await w.conman(['stop', '-t', '99999999999', 'calm']);
    expect(cli.code).not.toBe(0);
    expect(alive(pid)).toBe(true);
    // The shim's own timers too: a linger time past 2^31 - 1 ms is refused before anything starts.
    const { startShim } = await importTarget<typeof import('../solutions/03-shim/client.ts')>('03-shim/client.ts');
    const dir = path.join(hostRun().stateDir, 'linger');
    await expect(startShim({ id: 'never', bundle: '/nonexistent', dir, stateRoot: dir, lingerMs: 2 ** 31 })).rejects.toThrow(/lingerMs must be from 0 to 2147483647 ms/);
    expect(fs.existsSync(dir)).toBe(false);
    const policy = await api(w.socket, 'POST', '/containers', JSON.stringify({ rootfs: w.rootfs, args: ['true'], restart: `on-failure:${'9'.repeat(400)}` }));
    expect({ status: policy.status, message: policy.message }).toEqual({ status: 400, message: expect.stringMatching(/count must be from 1 to/) });
  }, 60_000);

  test('deep nesting, "..", bad env names, NUL bytes, bad signals and a rootfs that is / get a 400 naming the field', async () => {
    const w = await world();
    await w.startDaemon();
    await w.ok(['run', '-d', '--name', 'target', w.rootfs, 'sleep', '600']);
    const good = { rootfs: w.rootfs, args: ['true'] };
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const toSlash = path.join(hostRun().dir, 'to-slash');
    fs.symlinkSync('/', toSlash);
    const create = (body: object | string) => api(w.socket, 'POST', '/containers', typeof body === 'string' ? body : JSON.stringify(body));
    const exec = (body: object | string) => api(w.socket, 'POST', '/containers/target/exec', typeof body === 'string' ? body : JSON.stringify(body));
    const cases: [string, Promise<{ status: number; message: string }>, RegExp][] = [
      ['args nested 100 000 deep', create(`{"rootfs": ${JSON.stringify(w.rootfs)}, "args": ${deep}}`), /"args" is nested too deeply/],
      ['env nested 100 000 deep', create(`{"rootfs": ${JSON.stringify(w.rootfs)}, "args": ["true"], "env": {"A": ${deep}}}`), /"env" is nested too deeply/],
      ['exec args nested deep', exec(`{"args": ${deep}}`), /"args" is nested too deeply/],
      ['cwd ../..', create({ ...good, cwd: '../..' }), /"cwd" must be an absolute path/],
      ['cwd /a/../..', create({ ...good, cwd: '/a/../..' }), /"cwd"/],
      ['env key ""', create({ ...good, env: { '': 'x' } }), /"env": "" is not a variable name/],
      ['env key A=B', create({ ...good, env: { 'A=B': 'C' } }), /"env": "A=B" is not a variable name/],
      ['NUL in args', create({ ...good, args: ['echo', 'a\0b'] }), /"args" must not contain a NUL byte/],
      ['NUL in an env value', create({ ...good, env: { A: 'x\0y' } }), /"env" must not contain a NUL byte/],
      ['NUL in cwd', create({ ...good, cwd: '/tmp\0x' }), /"cwd" must not contain a NUL byte/],
      ['NUL in rootfs', create({ ...good, rootfs: `${w.rootfs}\0x` }), /"rootfs" must not contain a NUL byte/],
      ['rootfs ending /../../..', create({ ...good, rootfs: `${w.rootfs}/../../..` }), /"rootfs" must be an absolute path without "\.\."/],
      ['rootfs a symlink to /', create({ ...good, rootfs: toSlash }), /"rootfs": \S+ is the host's root/],
      ['exec env A=B', exec({ args: ['true'], env: { 'A=B': 'C' } }), /"env"/],
      ['exec cwd ../..', exec({ args: ['true'], cwd: '../..' }), /"cwd"/],
      ['signal 65', api(w.socket, 'POST', '/containers/target/kill?signal=65'), /from 1 to 64/],
      ['signal 99999', api(w.socket, 'POST', '/containers/target/kill?signal=99999'), /from 1 to 64/],
      ['signal 0', api(w.socket, 'POST', '/containers/target/kill?signal=0'), /from 1 to 64/],
      ['signal constructor', api(w.socket, 'POST', '/containers/target/kill?signal=constructor'), /unknown signal/],
    ];
    for (const [what, response, message] of cases) {
      const answer = await response;
      expect({ what, status: answer.status, message: answer.message }).toEqual({ what, status: 400, message: expect.stringMatching(message) });
    }
    expect((JSON.parse(await w.ok(['ps', '-a', '--json'])) as Info[]).map((c) => `${c.name} ${c.status}`), 'nothing was created, nothing killed').toEqual(['target running']);
  }, 60_000);

  test('caps and idle timeouts: pending execs are capped (429), a silent connection is closed, a waiting one is not', async () => {
    const w = await world();
    await w.startDaemon();
    await w.ok(['run', '-d', '--name', 'target', w.rootfs, 'sleep', '600']);
    const { MAX_PENDING_EXECS, IDLE_CONNECTION_MS } = await importTarget<typeof import('../solutions/04-manager/api.ts')>('04-manager/api.ts');
    const body = JSON.stringify({ args: ['echo', 'x'.repeat(1000)] });
    const answersToCreate = await Promise.all(Array.from({ length: MAX_PENDING_EXECS + 5 }, () => api(w.socket, 'POST', '/containers/target/exec', body)));
    expect(answersToCreate.filter((a) => a.status === 201)).toHaveLength(MAX_PENDING_EXECS);
    const refused = answersToCreate.filter((a) => a.status !== 201);
    expect(refused.map((a) => a.status)).toEqual(refused.map(() => 429));
    expect(refused[0].message).toMatch(/too many execs created and not started/);

    const silent = net.connect(w.socket);
    const closed = new Promise<number>((resolve) => silent.once('close', () => resolve(Date.now())));
    silent.on('error', () => {});
    const waiting = http.request({ socketPath: w.socket, method: 'POST', path: '/containers/target/wait' });
    let waitEnded = false;
    waiting.on('response', (response) => response.on('end', () => (waitEnded = true)).resume());
    waiting.on('close', () => (waitEnded = true));
    waiting.on('error', () => {});
    waiting.end();
    const opened = Date.now();
    const at = await Promise.race([closed, sleep(IDLE_CONNECTION_MS + scaled(5000)).then(() => undefined)]);
    expect(at, 'the silent connection was closed').toBeDefined();
    expect(at! - opened).toBeGreaterThanOrEqual(IDLE_CONNECTION_MS - 500);
    await sleep(1000);
    expect(waitEnded, 'a wait request is not an idle connection').toBe(false);
    waiting.destroy();
  }, 60_000);
});

describe('smaller points', () => {
  test('a lost shim under --restart always: the orphan is killed and the container restarted; ps --format escapes control characters', async () => {
    const w = await world();
    await w.startDaemon();
    await w.ok(['run', '-d', '--restart', 'always', '--name', 'phoenix', w.rootfs, 'sleep', '600']);
    await w.ok(['run', '-d', '--name', 'plain', w.rootfs, 'sleep', '600']);
    const [phoenix, plain] = [await w.inspect('phoenix'), await w.inspect('plain')];
    for (const c of [phoenix, plain]) process.kill((JSON.parse(fs.readFileSync(path.join(c.shimDir, 'shim.json'), 'utf8')) as { pid: number }).pid, 'SIGKILL');
    await waitFor('phoenix runs again', async () => {
      const now = await w.inspect('phoenix');
      return now.status === 'running' && now.pid !== phoenix.pid && now;
    });
    expect(await w.inspect('phoenix')).toMatchObject({ restartCount: 1 });
    expect(alive(phoenix.pid!), 'the orphan was killed').toBe(false);
    await waitFor('plain is unknown (no restart policy: its process may still work)', async () => (await w.inspect('plain')).status === 'unknown');
    expect(alive(plain.pid!)).toBe(true);

    await w.ok(['create', '--name', 'escapes', w.rootfs, 'echo', '\x1b[2J\x07bell']);
    const listed = await w.ok(['ps', '-a', '--format', '{{.Name}} {{.Command}}']);
    expect(listed).toContain('escapes echo \\x1b[2J\\x07bell');
    expect(listed).not.toMatch(/[\x00-\x08\x0b-\x1f]/);
  }, 60_000);
});

/** Remove a file after the test (the shared rootfs outlives it). */
function onTestFinishedRemove(file: string): void {
  cleanups.push(() => fs.rmSync(file, { force: true }));
}
