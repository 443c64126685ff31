/**
 * Chapter 03 checks: conman-shim, on the real runtime. The shim outlives its starter, reaps
 * the container, records its exit atomically, logs in the CRI format, serves attach and
 * resize to brand-new processes, and leaves nothing behind.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { joinPartials, parseLog } from '../lib/cri-log.ts';
import { caught, rethrowChildFailure } from '../lib/harness/caught.ts';
import { eventually } from '../lib/harness/eventually.ts';
import { notImplementedIn } from '../lib/not-implemented.ts';
import { useHostRun } from '../lib/harness/host-run.ts';
import { importTarget, targetPath } from '../lib/harness/target.ts';
import { cgroupDirs } from '../lib/host/cgroups.ts';
import { mountSmallDisk } from './small-disk.ts';
import { REPO_ROOT } from '../lib/paths.ts';
// Earlier chapters: the reference by default, the learner's own after `workshop layers own`.
import { createBundle, writeConfig } from '#lower/01-bundle/bundle.ts';
import type { ContainerOptions } from '#lower/01-bundle/config.ts';
import { OciRuntime } from '#lower/02-lifecycle/runtime.ts';
import { scaled } from '../lib/slow.ts';

type Client = typeof import('../solutions/03-shim/client.ts');
type WaitStatus = typeof import('../solutions/03-shim/wait-status.ts');
type Reaper = typeof import('../solutions/03-shim/reaper.ts');
type Identity = typeof import('../solutions/03-shim/identity.ts');

const hostRun = useHostRun();
/** Run a TypeScript file in one process (the tsx command would fork a second one). */
const WITH_TSX = ['--import', 'tsx'];

/** A bundle for `options`, and where its shim lives. */
async function prepare(label: string, options: ContainerOptions & { tty?: boolean }) {
  const { id, bundle, cgroupsPath } = hostRun().container(label);
  const spec = await createBundle(bundle, { cgroupsPath, hostname: 'shimmed', ...options });
  if (options.tty) {
    spec.process.terminal = true;
    await writeConfig(bundle, spec);
  }
  const dir = path.join(hostRun().stateDir, 'shims', id);
  return { id, bundle, dir, cgroupsPath, stateRoot: hostRun().stateRoot('runc') };
}

async function startContainer(label: string, options: ContainerOptions & { tty?: boolean; stdin?: boolean }) {
  const { startShim, ShimClient } = await importTarget<Client>('03-shim/client.ts');
  const prepared = await prepare(label, options);
  const started = await startShim({ id: prepared.id, bundle: prepared.bundle, dir: prepared.dir, stateRoot: prepared.stateRoot, stdin: options.stdin });
  return { ...prepared, ...started, client: new ShimClient(prepared.dir) };
}

/** Write a small TypeScript program, run it with tsx, return its stdout. */
async function runProgram(file: string, source: string, timeoutMs = 20_000): Promise<string> {
  fs.writeFileSync(file, source);
  const { stdout } = await promisify(execFile)(process.execPath, [...WITH_TSX, file], { cwd: REPO_ROOT, timeout: scaled(timeoutMs) }).catch(rethrowChildFailure);
  return stdout;
}

function exists(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}


describe('each piece alone, before the shim', () => {
  test('decodeWaitStatus: exit codes, and 128 + N for a signal', async () => {
    const { decodeWaitStatus } = await importTarget<WaitStatus>('03-shim/wait-status.ts');
    expect(decodeWaitStatus(3 << 8), 'status 0x0300: exit 3').toEqual({ exitCode: 3 });
    expect(decodeWaitStatus(0), 'status 0: exit 0').toEqual({ exitCode: 0 });
    expect(decodeWaitStatus(9), 'status 9: killed by signal 9, SIGKILL (128 + 9)').toEqual({ exitCode: 137, signal: 'SIGKILL' });
    expect(decodeWaitStatus(15 | 0x80), 'status 0x8f: SIGTERM with the core-dump bit 0x80 (mask 0x7f)').toEqual({ exitCode: 143, signal: 'SIGTERM' });
  });

  test('reapZombies: every orphan handed to a subreaper is reaped with its status, in one call; Node\'s own children are left to Node', async () => {
    const dir = fs.mkdtempSync(path.join(hostRun().dir, 'reaper-'));
    const output = await runProgram(
      path.join(dir, 'reaper.mts'),
      `import { spawn, execFileSync } from 'node:child_process';
       import { Reaper, childrenOf } from ${JSON.stringify(targetPath('03-shim/reaper.ts'))};
       const reaper = new Reaper();
       reaper.start();
       // Reap by hand below, at a moment of our choosing: no SIGCHLD listener.
       for (const listener of process.listeners('SIGCHLD')) process.off('SIGCHLD', listener);
       const exits = [];
       reaper.on('exit', (pid, status) => exits.push(status));
       // Node's own child: its 'exit' event must still come, with its code.
       const own = new Promise((resolve) => spawn('sh', ['-c', 'exit 7']).on('exit', (code) => resolve(code)));
       // Two orphans that exit 0 and 5, and one killed by SIGKILL: sh leaves them to us.
       const killed = execFileSync('sh', ['-c', '(sleep 0.1; exit 0) >/dev/null & (sleep 0.1; exit 5) >/dev/null & sleep 30 >/dev/null & echo $!'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
       process.kill(Number(killed), 'SIGKILL');
       // Without returning to the event loop (Node cannot collect its own child meanwhile): wait for four zombies.
       const deadline = Date.now() + 5000;
       while (childrenOf(process.pid).filter((c) => c.state === 'Z').length < 4 && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
       const first = reaper.reapZombies();
       const second = reaper.reapZombies();
       const ownCode = await Promise.race([own, new Promise((resolve) => setTimeout(() => resolve('no exit event'), 3000))]);
       const zombies = childrenOf(process.pid).filter((c) => c.state === 'Z').length;
       reaper.stop();
       console.log(JSON.stringify({ first: first.map((r) => r.status), second: second.length, exits, ownCode, zombies }));`,
    );
    const { first, second, exits, ownCode, zombies } = JSON.parse(output) as { first: { exitCode: number; signal?: string }[]; second: number; exits: unknown[]; ownCode: number | string | null; zombies: number };
    expect(ownCode, "the exit code Node's own child reported (a reaper that takes it leaves Node without it)").toBe(7);
    expect(first.map((e) => e.exitCode).sort((a, b) => a - b), 'the statuses one call reaped (one SIGCHLD may stand for several exits)').toEqual([0, 5, 137]);
    expect(first.find((e) => e.exitCode === 137)?.signal, 'the signal of the orphan killed by SIGKILL').toBe('SIGKILL');
    expect(exits, "the 'exit' events").toEqual(first);
    expect(second, 'reaped by a second call').toBe(0);
    expect(zombies, 'zombies left').toBe(0);
  });

  test('CriLogWriter: F records for lines, P records for over-long pieces, per stream, split UTF-8 kept whole', async () => {
    const { CriLogWriter, MAX_RECORD_BYTES } = await importTarget<typeof import('../solutions/03-shim/log-writer.ts')>('03-shim/log-writer.ts');
    const file = path.join(fs.mkdtempSync(path.join(hostRun().dir, 'log-')), 'container.log');
    let tick = 0n;
    const writer = new CriLogWriter(file, () => 1_767_225_600_000_000_000n + tick++);
    const records = () => parseLog(fs.readFileSync(file, 'utf8')).map((r) => `${r.stream} ${r.partial ? 'P' : 'F'} ${r.message.length > 20 ? `${r.message[0]}x${Buffer.byteLength(r.message)}` : r.message}`);
    writer.write('stdout', Buffer.from('one\ntw'));
    writer.write('stderr', Buffer.from('err'));
    expect(records(), 'an unfinished line waits for its end').toEqual(['stdout F one']);
    writer.write('stdout', Buffer.from('o\n\nthree\nfo'));
    writer.write('stderr', Buffer.from('or\n'));
    expect(records(), 'the records after the next chunks: whole lines, an empty one, per stream').toEqual(['stdout F one', 'stdout F two', 'stdout F ', 'stdout F three', 'stderr F error']);
    const euro = Buffer.from('€ and €\n');
    writer.write('stdout', Buffer.concat([Buffer.from('ur '), euro.subarray(0, 1)]));
    writer.write('stdout', euro.subarray(1));
    const long = Buffer.alloc(MAX_RECORD_BYTES * 2 + 100, 'y');
    writer.write('stdout', long.subarray(0, 1000));
    writer.write('stdout', long.subarray(1000));
    expect(records().filter((r) => r.startsWith('stdout P')).length, 'P records written before the long line ends (a line without its newline yet must not grow in memory)').toBe(2);
    writer.write('stdout', Buffer.from('\nexactly'));
    writer.write('stdout', Buffer.alloc(MAX_RECORD_BYTES - 'exactly'.length, 'z'));
    writer.write('stdout', Buffer.from('\nlast, no newline'));
    writer.write('stderr', Buffer.concat([Buffer.alloc(MAX_RECORD_BYTES + 5, 'w'), Buffer.from('\n')])); // a long line and its end in one chunk
    writer.close();
    expect(records().slice(5), 'then: a split character, a line of 2 × 16 KiB + 100, one of exactly 16 KiB, a 16 KiB + 5 line with its newline in one chunk, the end without a newline').toEqual([
      'stdout F four € and €',
      `stdout P yx${MAX_RECORD_BYTES}`,
      `stdout P yx${MAX_RECORD_BYTES}`,
      'stdout F yx100',
      `stdout F ex${MAX_RECORD_BYTES}`,
      `stderr P wx${MAX_RECORD_BYTES}`,
      'stderr F wwwww',
      'stdout F last, no newline',
    ]);
    const times = parseLog(fs.readFileSync(file, 'utf8')).map((r) => r.time);
    expect(times[0], 'the time of the first record').toBe('2026-01-01T00:00:00.000000000Z');
  });

  test('writeExitStatus: the whole file or none, written beside its target and renamed into place', async () => {
    const { writeExitStatus, readExitStatus } = await importTarget<typeof import('../solutions/03-shim/exit-status.ts')>('03-shim/exit-status.ts');
    // The shim's folder on a filesystem of its own: a temporary file elsewhere cannot be renamed into it.
    const disk = mountSmallDisk(hostRun(), 'exitfile');
    try {
      const first = { exitCode: 3, oomKilled: false, finishedAt: '2026-01-01T00:00:00.000Z' };
      const second = { exitCode: 137, signal: 'SIGKILL', oomKilled: true, finishedAt: '2026-01-01T00:00:01.000Z' };
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      const open = fds();
      writeExitStatus(disk.dir, first);
      expect(fds(), 'descriptors left open by writeExitStatus (close the temporary file)').toBe(open);
      expect(readExitStatus(disk.dir), 'exit.json, read back').toEqual(first);
      expect(fs.readFileSync(path.join(disk.dir, 'exit.json'), 'utf8'), 'exit.json: the JSON and a newline').toBe(JSON.stringify(first) + '\n');
      expect((fs.statSync(path.join(disk.dir, 'exit.json')).mode & 0o777).toString(8), 'the mode of exit.json').toBe('644');
      // A reader that opened the old file keeps the old whole content: a rename replaces it, a write in place changes it under the reader.
      fs.linkSync(path.join(disk.dir, 'exit.json'), path.join(disk.dir, 'reader.json'));
      writeExitStatus(disk.dir, second);
      expect(readExitStatus(disk.dir), 'exit.json after a second write').toEqual(second);
      expect(JSON.parse(fs.readFileSync(path.join(disk.dir, 'reader.json'), 'utf8')), 'the file a reader had open (written in place, not renamed?)').toEqual(first);
      expect(fs.readdirSync(disk.dir).sort(), 'files left in the folder').toEqual(['exit.json', 'reader.json']);
      // A full disk: an error, and no half-written file left behind.
      fs.rmSync(path.join(disk.dir, 'exit.json'));
      disk.fill();
      expect(() => writeExitStatus(disk.dir, first), 'on a full disk').toThrow(/ENOSPC|no space/i);
      expect(fs.readdirSync(disk.dir).sort(), 'files left on a full disk').toEqual(['filler', 'reader.json']);
    } finally {
      disk.unmount();
    }
  });

  test('handleRequest: every op answered from the shim\'s api, arguments checked, errors become replies', async () => {
    const { handleRequest } = await importTarget<typeof import('../solutions/03-shim/control.ts')>('03-shim/control.ts');
    const calls: string[] = [];
    const exit = { exitCode: 0, oomKilled: false, finishedAt: '2026-01-01T00:00:00.000Z' };
    const api = {
      state: () => ({ id: 'c1', status: 'running' as const, pid: 42 }),
      wait: async () => (calls.push('wait'), exit),
      start: async () => void calls.push('start'),
      kill: async (signal: string) => {
        calls.push(`kill ${signal}`);
        await new Promise((resolve) => setTimeout(resolve, 5)); // runc takes a moment, and refuses a bad name
        if (!String(signal).startsWith('SIG')) throw new Error(`runc kill: unknown signal ${signal}`);
      },
      resize: (rows: number, cols: number) => void calls.push(`resize ${rows}x${cols}`),
      closeStdin: () => void calls.push('close-stdin'),
      delete: async () => {
        throw new Error('the container is still running');
      },
    };
    expect(await handleRequest(api, { op: 'state' }), 'state').toEqual({ ok: true, id: 'c1', status: 'running', pid: 42 });
    expect(await handleRequest(api, { op: 'wait' }), 'wait').toEqual({ ok: true, exit });
    expect(await handleRequest(api, { op: 'start' }), 'start').toEqual({ ok: true });
    expect(await handleRequest(api, { op: 'kill' }), 'kill without a signal').toEqual({ ok: true });
    expect(await handleRequest(api, { op: 'kill', signal: 'SIGKILL' }), 'kill SIGKILL').toEqual({ ok: true });
    expect(await handleRequest(api, { op: 'resize', rows: 40, cols: 120 }), 'resize 40x120').toEqual({ ok: true });
    expect(await handleRequest(api, { op: 'close-stdin' }), 'close-stdin').toEqual({ ok: true });
    expect(calls, 'the api calls made, in order').toEqual(['wait', 'start', 'kill SIGTERM', 'kill SIGKILL', 'resize 40x120', 'close-stdin']);
    const refused = async (request: { op: string; [key: string]: unknown }, why: RegExp) => {
      const reply = await handleRequest(api, request);
      expect(reply, JSON.stringify(request)).toMatchObject({ ok: false, error: expect.stringMatching(why) });
    };
    await refused({ op: 'kill', signal: 9 }, /signal/);
    await refused({ op: 'kill', signal: 'TERM' }, /unknown signal TERM/); // api.kill fails: await it, or its rejection ends the shim
    calls.pop(); // (that one reached the api, which refused it)
    for (const [rows, cols] of [[0, 80], [24, -1], [24.5, 80], ['24', 80], [24, undefined]]) await refused({ op: 'resize', rows, cols }, /positive integers/);
    await refused({ op: 'delete' }, /still running/);
    await refused({ op: 'explode' }, /unknown op "explode"/);
    expect(calls.length, 'the api was not called for a refused request').toBe(6);
  });
});

describe('exit status', () => {
  test('exit 3, SIGKILL (137) and an OOM kill (137, OOM-killed) are recorded in exit.json', async () => {
    const { readExitStatus } = await importTarget<typeof import('../solutions/03-shim/exit-status.ts')>('03-shim/exit-status.ts');
    const three = await startContainer('exit3', { args: ['sh', '-c', 'exit 3'] });
    const killed = await startContainer('killed', { args: ['sleep', '60'] });
    const oom = await startContainer('oom', { args: ['tail', '/dev/zero'], memoryLimitBytes: 16 * 1024 * 1024 });
    await killed.client.kill('SIGKILL');
    expect(await three.client.wait()).toMatchObject({ exitCode: 3, oomKilled: false });
    expect(await killed.client.wait()).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: false });
    expect(await oom.client.wait()).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: true });
    const onDisk = readExitStatus(three.dir);
    expect(onDisk?.exitCode, 'exit.json').toBe(3);
    expect(Date.parse(onDisk!.finishedAt)).toBeGreaterThan(Date.now() - 60_000);
    for (const c of [three, killed, oom]) await c.client.delete();
  });

  test('a container that exits at once still reports its status', async () => {
    const quick = await startContainer('quick', { args: ['true'] });
    expect(await quick.client.wait()).toMatchObject({ exitCode: 0 });
    await quick.client.delete();
  });
});

describe('the shim outlives its starter', () => {
  test('SIGKILL the process that started the shim: the container runs on, and its exit is recorded', async () => {
    const prepared = await prepare('orphan', { args: ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 42'] });
    // A starter in its own process: start the shim, report, then hang around to be killed.
    const starterFile = path.join(prepared.bundle, 'starter.mts');
    fs.writeFileSync(
      starterFile,
      `import { startShim } from ${JSON.stringify(targetPath('03-shim/client.ts'))};
       const started = await startShim(${JSON.stringify({ id: prepared.id, bundle: prepared.bundle, dir: prepared.dir, stateRoot: prepared.stateRoot })});
       console.log(JSON.stringify(started));
       setInterval(() => {}, 1000);`,
    );
    const starter = spawn(process.execPath, [...WITH_TSX, starterFile], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    starter.stdout.on('data', (chunk) => (out += chunk));
    starter.stderr.on('data', (chunk) => (err += chunk));
    await new Promise<void>((resolve, reject) => {
      starter.stdout.on('data', () => out.includes('\n') && resolve());
      starter.once('exit', () => (out.includes('\n') ? resolve() : reject(Object.assign(new Error(`the starter failed:\n${err}`), { stderr: err }))));
    }).catch(rethrowChildFailure);
    const { shim, pid } = JSON.parse(out) as { shim: { pid: number }; pid: number };
    starter.kill('SIGKILL');
    await new Promise((resolve) => starter.once('exit', resolve));

    const runtime = new OciRuntime({ stateRoot: prepared.stateRoot });
    expect((await runtime.state(prepared.id)).status, 'the container after its starter died').toBe('running');
    expect(exists(shim.pid), 'the shim after its starter died').toBe(true);
    await runtime.exec(prepared.id, { args: ['touch', '/tmp/go'] });
    const { ShimClient } = await importTarget<Client>('03-shim/client.ts');
    const client = new ShimClient(prepared.dir);
    expect(await client.wait()).toMatchObject({ exitCode: 42 });
    expect(JSON.parse(fs.readFileSync(path.join(prepared.dir, 'exit.json'), 'utf8')).exitCode).toBe(42);
    expect(exists(pid)).toBe(false);
    await client.delete();
    await eventually('the shim exits after delete', () => !exists(shim.pid));
  });

  test('shim.json holds the shim\'s PID and start time, and tells a live shim from a reused PID', async () => {
    const { readIdentity, isAlive } = await importTarget<Identity>('03-shim/identity.ts');
    const c = await startContainer('identity', { args: ['sleep', '60'] });
    const identity = readIdentity(c.dir)!;
    expect(identity.pid).toBe(c.shim.pid);
    expect(isAlive(identity)).toBe(true);
    expect(isAlive({ ...identity, startTime: identity.startTime - 1 }), 'same PID, other start time').toBe(false);
    await c.client.kill('SIGKILL');
    await c.client.wait();
    await c.client.delete();
    await eventually('the shim exits', () => !isAlive(identity));
  });
});

describe('stdio and logs', () => {
  test('the container\'s stdout is a FIFO, so `echo > /dev/stdout` works; output lands in the CRI log', async () => {
    const c = await startContainer('fifo', { args: ['sh', '-c', 'echo hello; echo oops >&2; echo reopened > /dev/stdout; stat -L -c %F /proc/self/fd/1'] });
    await c.client.wait();
    const records = parseLog(fs.readFileSync(path.join(c.dir, 'container.log'), 'utf8'));
    const stdout = records.filter((r) => r.stream === 'stdout').map((r) => r.message);
    expect(stdout).toEqual(['hello', 'reopened', 'fifo']);
    expect(records.filter((r) => r.stream === 'stderr').map((r) => r.message)).toEqual(['oops']);
    expect(records.every((r) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/.test(r.time)), 'RFC 3339 times with nanoseconds').toBe(true);
    await c.client.delete();
  });

  test('a 100 KiB line is cut into partial records and comes back whole', async () => {
    const c = await startContainer('longline', { args: ['sh', '-c', "head -c 102400 /dev/zero | tr '\\0' x; echo; echo short"] });
    await c.client.wait();
    const records = parseLog(fs.readFileSync(path.join(c.dir, 'container.log'), 'utf8'));
    expect(records.filter((r) => r.partial).length, 'P records').toBeGreaterThanOrEqual(6);
    expect(Math.max(...records.map((r) => Buffer.byteLength(r.message))), 'largest record').toBeLessThanOrEqual(16 * 1024);
    const lines = joinPartials(records);
    expect(lines.map((l) => l.text.length)).toEqual([102400, 5]);
    expect(lines[0].text).toBe('x'.repeat(102400));
    await c.client.delete();
  });

  test('no zombie is left under the shim', async () => {
    const { childrenOf } = await importTarget<Reaper>('03-shim/reaper.ts');
    // The init exits; the kernel kills its two children, which are handed to the shim.
    const c = await startContainer('zombies', { args: ['sh', '-c', 'sleep 30 & sleep 30 & sleep 0.2; exit 0'] });
    await c.client.wait();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(childrenOf(c.shim.pid).filter((child) => child.state === 'Z'), 'zombies under the shim').toEqual([]);
    await c.client.delete();
  });
});

describe('terminal and attach', () => {
  test('a brand-new process attaches to a running TTY container, types, sees the echo and resizes it', async () => {
    const c = await startContainer('tty', { args: ['sh'], tty: true });
    const output = await runProgram(
      path.join(c.bundle, 'attacher.mts'),
      `import { ShimClient } from ${JSON.stringify(targetPath('03-shim/client.ts'))};
       const client = new ShimClient(${JSON.stringify(c.dir)});
       await client.resize(40, 123);
       const stream = await client.attach();
       let seen = '';
       stream.on('data', (chunk) => (seen += chunk.toString()));
       stream.resume();
       stream.write('echo "$((6*7)) from attach"; stty size\\n');
       const deadline = Date.now() + 5000;
       while (!/40 123/.test(seen) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
       stream.destroy();
       console.log(JSON.stringify(seen));`,
    );
    const seen = JSON.parse(output) as string;
    expect(seen, 'the terminal echoes what was typed').toContain('echo "$((6*7)) from attach"');
    expect(seen).toContain('42 from attach');
    expect(seen, 'stty size after resize').toMatch(/40 123/);
    // Attach again, from here: a second client sees the same terminal.
    const stream = await c.client.attach();
    stream.write('exit 5\n');
    expect(await c.client.wait()).toMatchObject({ exitCode: 5 });
    stream.destroy();
    const log = joinPartials(parseLog(fs.readFileSync(path.join(c.dir, 'container.log'), 'utf8')));
    expect(log.some((line) => line.text.includes('42 from attach')), 'the terminal output is logged').toBe(true);
    await c.client.delete();
  });

  test('with waitForStart the shim only creates: attach and size the terminal, then start; nothing is missed', async () => {
    const { startShim, ShimClient } = await importTarget<Client>('03-shim/client.ts');
    const runtime = new OciRuntime({ runtime: 'runc', stateRoot: hostRun().stateRoot('runc') });
    const c = await prepare('deferred', { args: ['sh', '-c', 'echo first; stty size; exit 4'], tty: true });
    await startShim({ id: c.id, bundle: c.bundle, dir: c.dir, stateRoot: c.stateRoot, waitForStart: true });
    const client = new ShimClient(c.dir);
    expect((await client.state()).status, 'the shim says').toBe('created');
    expect((await runtime.state(c.id)).status, 'runc says').toBe('created');
    const stream = await client.attach();
    let seen = '';
    stream.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    stream.resume();
    await client.resize(33, 99);
    const exited = client.wait();
    exited.catch(() => {});
    await client.start();
    expect(await exited).toMatchObject({ exitCode: 4 });
    await eventually('the attached client sees the output', () => seen.includes('33 99'));
    expect(seen, 'output from its first byte').toMatch(/^first\r?\n/);
    expect(await client.request({ op: 'start' }), 'a second start').toMatchObject({ ok: false, error: expect.stringMatching(/start: the container is stopped/) });
    stream.destroy();
    await client.delete();

    // Created and never started: delete removes the container, and the shim exits.
    const never = await prepare('never', { args: ['sleep', '60'] });
    const { shim } = await startShim({ id: never.id, bundle: never.bundle, dir: never.dir, stateRoot: never.stateRoot, waitForStart: true });
    await new ShimClient(never.dir).delete();
    await eventually('the shim exits after delete', () => !exists(shim.pid)); // (a zombie until Node reaps it)
    expect(fs.existsSync(path.join(never.stateRoot, never.id)), 'runtime state').toBe(false);

    // Created, and nobody ever comes back: after lingerMs the shim deletes it and exits.
    const abandoned = await prepare('abandoned', { args: ['sleep', '60'] });
    const left = await startShim({ id: abandoned.id, bundle: abandoned.bundle, dir: abandoned.dir, stateRoot: abandoned.stateRoot, waitForStart: true, lingerMs: 300 });
    await eventually('an abandoned shim deletes its container and exits', () => !exists(left.shim.pid));
    expect(fs.existsSync(path.join(abandoned.stateRoot, abandoned.id)), 'runtime state').toBe(false);
  });

  test('without a terminal, attach streams stdout and feeds stdin; close-stdin ends the input', async () => {
    const c = await startContainer('stdin', { args: ['sh', '-c', 'read line; echo "got: $line"; cat; echo "cat saw the end"'], stdin: true });
    const stream = await c.client.attach();
    let seen = '';
    stream.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    stream.resume();
    // A shim that dies (an unfinished exercise) makes `wait` fail with its reason: race it.
    const exited = c.client.wait();
    exited.catch(() => {});
    stream.write('hello shim\n');
    await Promise.race([
      eventually('attach output', () => seen.includes('got: hello shim')),
      exited.then(() => Promise.reject(new Error('the container exited before it echoed'))),
    ]);
    await c.client.closeStdin(); // cat reads end of file, and the container ends
    expect(await exited).toMatchObject({ exitCode: 0 });
    await eventually('the end of input reached the container', () => seen.includes('cat saw the end'));
    stream.destroy();
    await c.client.delete();
  });
});

describe('exec processes', () => {
  test('the shim runs an exec in the container: its output held until someone attaches, stdout and stderr apart in stdcopy frames, stdin, its own exit code', async () => {
    const c = await startContainer('exec', { args: ['sleep', '300'] });
    const { client, state } = await c.client.exec('e1', { args: ['sh', '-c', 'echo out; echo err >&2; read line; echo "got $line"; exit 3'], stdin: true });
    expect(state).toMatchObject({ id: 'e1', status: 'running' });
    expect(state.pid, 'its PID, from runc\'s --pid-file').toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 200)); // it prints while nobody is attached
    const stream = await client.attach();
    const frames: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => frames.push(chunk));
    const ended = new Promise((resolve) => stream.once('end', resolve));
    stream.resume();
    stream.write('hi\n');
    expect(await client.wait(), 'the exec\'s own exit, reaped by the shim').toMatchObject({ exitCode: 3 });
    await ended;
    // Docker's stdcopy: [stream, 0, 0, 0, size as uint32 BE], then the bytes.
    const streams = { 1: '', 2: '' } as Record<number, string>;
    for (let data = Buffer.concat(frames); data.length >= 8; data = data.subarray(8 + data.readUInt32BE(4))) {
      streams[data[0]] += data.subarray(8, 8 + data.readUInt32BE(4)).toString();
    }
    expect(streams[1], 'stdout, held output first').toBe('out\ngot hi\n');
    expect(streams[2], 'stderr').toBe('err\n');
    expect(await client.state(), 'the exit is kept for a later reader').toMatchObject({ status: 'stopped', exit: { exitCode: 3 } });

    const missing = await caught(c.client.exec('e2', { args: ['no-such-command'] }));
    expect(missing?.message).toMatch(/executable file not found/);
    expect((await c.client.state()).status, 'a failed exec leaves the container alone').toBe('running');
    await c.client.kill('SIGKILL');
    await c.client.wait();
    await c.client.delete();
  });
});

describe('errors and clean-up', () => {
  test('a command that does not exist: the runtime\'s error comes through the handshake, nothing is left behind', async () => {
    const { startShim } = await importTarget<Client>('03-shim/client.ts');
    const prepared = await prepare('missing', { args: ['no-such-command'] });
    const error = await caught(startShim({ id: prepared.id, bundle: prepared.bundle, dir: prepared.dir, stateRoot: prepared.stateRoot }));
    expect(error?.message).toMatch(/"no-such-command": executable file not found/);
    expect(fs.existsSync(prepared.dir), 'the shim folder').toBe(false);
    expect(fs.existsSync(path.join(prepared.stateRoot, prepared.id)), 'runtime state').toBe(false);
    expect(cgroupDirs(prepared.cgroupsPath.slice(1)), 'cgroups').toEqual([]);
    // The shim itself has exited: no process names the container's folder any more.
    expect(hostRun().leaks()).toEqual([]);
  });

  test('a shim folder too long for a unix socket path is refused before anything starts', async () => {
    const { startShim } = await importTarget<Client>('03-shim/client.ts');
    const prepared = await prepare('longpath', { args: ['true'] });
    const dir = path.join(prepared.dir, 'x'.repeat(80));
    const error = await caught(startShim({ id: prepared.id, bundle: prepared.bundle, dir, stateRoot: prepared.stateRoot }));
    expect(error?.message).toMatch(/too long for a unix socket/);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('bad control requests get clear errors and do not hurt the shim', async () => {
    const c = await startContainer('control', { args: ['sleep', '60'] });
    expect(await c.client.request({ op: 'explode' })).toMatchObject({ ok: false, error: expect.stringMatching(/unknown op "explode"/) });
    expect(await c.client.request(null as never)).toMatchObject({ ok: false, error: expect.stringMatching(/not a JSON object/) });
    expect(await c.client.request({ op: 'resize', rows: 0, cols: 80 })).toMatchObject({ ok: false, error: expect.stringMatching(/positive integers/) });
    expect(await c.client.request({ op: 'resize', rows: 24, cols: 80 })).toMatchObject({ ok: false, error: expect.stringMatching(/no terminal/) });
    expect(await c.client.request({ op: 'delete' })).toMatchObject({ ok: false, error: expect.stringMatching(/still running/) });
    expect((await c.client.state()).status).toBe('running');
    await c.client.kill('SIGKILL');
    await c.client.wait();
    await c.client.delete();
  });

  test('20 shims run at once', async () => {
    const containers = await Promise.all(Array.from({ length: 20 }, (_, i) => startContainer(`many${i}`, { args: ['sleep', '60'] })));
    expect(new Set(containers.map((c) => c.shim.pid)).size).toBe(20);
    for (const c of containers) expect((await c.client.state()).status).toBe('running');
    await Promise.all(containers.map((c) => c.client.kill('SIGKILL')));
    const statuses = await Promise.all(containers.map((c) => c.client.wait()));
    expect(statuses.every((s) => s.exitCode === 137)).toBe(true);
    await Promise.all(containers.map((c) => c.client.delete()));
    await eventually('every shim exits', () => containers.every((c) => !exists(c.shim.pid)));
  }, scaled(120_000));
});

describe('a full disk', () => {
  test('ENOSPC does not end the shim: output is dropped whole and counted, the exit still comes over the socket, exit.json once there is room', async () => {
    const { startShim, ShimClient } = await importTarget<Client>('03-shim/client.ts');
    const disk = mountSmallDisk(hostRun(), 'shimdisk');
    try {
      const prepared = await prepare('fulldisk', { args: ['sh', '-c', 'i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.02; done'] });
      // The shim's folder (its log, exit.json) on the small disk.
      const dir = path.join(disk.dir, 's');
      const started = await startShim({ id: prepared.id, bundle: prepared.bundle, dir, stateRoot: prepared.stateRoot });
      const client = new ShimClient(dir);
      const log = path.join(dir, 'container.log');
      // A shim that died of an unfinished exercise (log-format) says so in its shim.log; the
      // starter hears of it only if the first output came before the handshake.
      const shimDied = () => notImplementedIn(fs.readFileSync(path.join(dir, 'shim.log'), 'utf8'));
      await eventually('the container logs', () => fs.readFileSync(log, 'utf8').includes('line 3'), { explain: shimDied });

      disk.fill();
      const dropping = await eventually('the shim counts dropped records', async () => ((await client.state()).logDropped?.records ?? 0) > 2 && (await client.state()));
      expect(dropping.status, 'the shim still manages the container').toBe('running');
      expect(fs.readFileSync(path.join(dir, 'shim.log'), 'utf8')).toMatch(/no space left on device.*; dropping the container's output/);
      expect(() => parseLog(fs.readFileSync(log, 'utf8')), 'the log holds whole records only').not.toThrow();

      disk.free();
      const before = parseLog(fs.readFileSync(log, 'utf8')).length;
      await eventually('the log is written again once there is room', () => parseLog(fs.readFileSync(log, 'utf8')).length > before + 3);

      disk.fill();
      await client.kill('SIGKILL');
      expect(await client.wait(), 'the exit, over the control socket').toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
      expect(fs.existsSync(path.join(dir, 'exit.json')), 'no room for exit.json').toBe(false);
      expect((await client.state()).exitFileError).toMatch(/no space left on device/);
      expect(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp')), 'no half-written file left').toEqual([]);

      disk.free();
      await eventually('exit.json is written once there is room', () => fs.existsSync(path.join(dir, 'exit.json')), { timeoutMs: 5000 });
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'exit.json'), 'utf8'))).toMatchObject({ exitCode: 137 });
      expect(() => parseLog(fs.readFileSync(log, 'utf8'))).not.toThrow();
      await client.delete();
      await eventually('the shim exits', () => !exists(started.shim.pid));
    } finally {
      disk.unmount();
    }
  }, scaled(60_000));
});
