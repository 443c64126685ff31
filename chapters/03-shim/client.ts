/**
 * The other side of the shim: how a manager starts one and talks to it.
 *
 * startShim() starts `conman-shim` as a detached daemon (its own session, stdio to its own
 * log file, unref'd), waits for the handshake line on fd 3 ("running", "created" with
 * waitForStart, or the runtime's error), and returns. From then on the shim lives on its
 * own: the starter may exit or be killed. Given an IdleShim (IdleShim.start(): one started
 * earlier, pooled.ts), it sends that one its container instead of starting a new process.
 * ShimClient speaks the control socket (control.ts); a brand-new process can make one from
 * the folder alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiled } from '#lib/build.mjs';
import { notImplementedIn } from '#lib/not-implemented.ts';
import type { RuntimeName } from '#lower/02-lifecycle/runtime.ts';
import type { ShimState } from './control.ts';
import type { ExecSpec, ExecState } from './exec-process.ts';
import type { ShimAssignment } from './shim.ts';
import type { ExitStatus } from './exit-status.ts';
import { isAlive, readIdentity, writeIdentity, type ProcessIdentity } from './identity.ts';
import { checkTimerMs } from './timer-range.ts';
import { scaled } from '#lib/slow.ts';

export interface StartShimOptions {
  id: string;
  bundle: string;
  /** The shim's folder (created here); keep its path short: it holds unix sockets (108 bytes). */
  dir: string;
  runtime?: RuntimeName;
  stateRoot: string;
  stdin?: boolean;
  lingerMs?: number;
  /** The container's CRI log file; default <dir>/container.log. */
  logFile?: string;
  /** Only create the container; ShimClient.start() starts it (attach first: nothing missed). */
  waitForStart?: boolean;
  timeoutMs?: number;
  /** Node's flags for the shim; default LEAN_NODE_FLAGS (bench/shim.ts compares others). */
  nodeFlags?: string[];
  /** Extra environment for the shim process. */
  env?: Record<string, string>;
}

/**
 * The shim is idle most of its life: no optimizing compiler (--lite-mode) and no V8 helper
 * threads (--single-threaded) save about 1 MiB of private memory each (bench/shim.ts).
 */
export const LEAN_NODE_FLAGS = ['--lite-mode', '--single-threaded', '--max-old-space-size=32'];

export class ShimStartError extends Error {}

/** A pooled shim boots at this niceness, in the background, behind real work (pooled.ts takes back 0). */
const IDLE_NICENESS = 10;

/** The program: conman-shim.ts next to this file, precompiled to JavaScript (lib/build.mjs). */
const SHIM_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'conman-shim.ts');

/**
 * `node [flags] PROGRAM.mjs ARGS` for a shim program (`entry`, a .ts file, precompiled by
 * lib/build.mjs), detached (its own session), its stdout and stderr to `logFile`, fd 3 a
 * socket pair to us.
 */
export async function spawnShim(args: string[], logFile: string, options: { nodeFlags?: string[]; env?: Record<string, string>; entry?: string }): Promise<ChildProcess> {
  const program = await compiled(options.entry ?? SHIM_ENTRY, { ownLayers: process.env.WORKSHOP_OWN_LAYERS === '1' });
  const logFd = fs.openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [...(options.nodeFlags ?? LEAN_NODE_FLAGS), program, ...args], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'pipe'],
      env: { ...process.env, ...options.env },
    });
  } finally {
    fs.closeSync(logFd);
  }
}

/** The shim's fd 3 seen from our side: JSON lines, one at a time, until the shim exits. */
export class ShimLink {
  private text = '';
  private waiting?: (line: string | undefined) => void;
  private exited = false;

  constructor(readonly child: ChildProcess) {
    const socket = this.socket;
    socket.on('data', (chunk: Buffer) => {
      this.text += chunk.toString();
      this.deliver();
    });
    socket.on('error', () => {}); // a shim that died: its 'exit' tells
    child.once('exit', () => {
      this.exited = true;
      this.deliver();
    });
  }

  private get socket(): net.Socket {
    return this.child.stdio[3] as net.Socket;
  }

  private deliver(): void {
    if (!this.waiting) return;
    const newline = this.text.indexOf('\n');
    if (newline === -1 && !this.exited) return;
    const resolve = this.waiting;
    this.waiting = undefined;
    if (newline === -1) return resolve(undefined);
    const line = this.text.slice(0, newline);
    this.text = this.text.slice(newline + 1);
    resolve(line);
  }

  /** The next line; undefined if the shim exited first; `onTimeout()`'s error after `timeoutMs`. */
  next(timeoutMs: number, onTimeout: () => Error): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(onTimeout());
      }, timeoutMs);
      this.waiting = (line) => (clearTimeout(timer), resolve(line));
      this.deliver();
    });
  }

  send(message: object): void {
    this.socket.write(JSON.stringify(message) + '\n');
  }

  /** Let go of the shim: it no longer keeps us alive, nor we it. */
  release(): void {
    this.socket.destroy();
    this.child.unref();
  }
}

/**
 * A shim started ahead of need (`--pool`): loaded, a subreaper, waiting on fd 3 for a
 * container. Give it one with startShim(options, idle). It exits by itself when this process
 * goes (its link closes), or is killed by stop().
 */
export class IdleShim {
  private constructor(private readonly link: ShimLink) {}

  get pid(): number {
    return this.link.child.pid!;
  }

  /** Still waiting (not exited): a manager takes only such a one. */
  get alive(): boolean {
    return this.link.child.exitCode === null && this.link.child.signalCode === null;
  }

  /** Send it its container (startShim() does); its handshake follows on the link it returns. */
  assign(assignment: ShimAssignment): ShimLink {
    // Its log is there from the start, as a new shim's (the shim points its output at it).
    fs.closeSync(fs.openSync(path.join(assignment.dir, 'shim.log'), 'a'));
    this.link.send({ assign: assignment });
    return this.link;
  }

  onExit(listener: () => void): void {
    this.link.child.once('exit', listener);
  }

  /** Kill it (it has no container: nothing is lost) and wait until it is gone (a bounded while). */
  async stop(): Promise<void> {
    const child = this.link.child;
    if (this.alive) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      const waitMs = scaled(5000);
      const late = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), waitMs).unref());
      if ((await Promise.race([exited, late])) === 'late') console.error(`conman: the pooled shim ${child.pid} did not exit within ${waitMs} ms of SIGKILL`);
    }
    this.link.release();
  }

  /** Start one; resolves once it said it is ready. `poolDir` holds its log while it waits. */
  static async start(poolDir: string, options: { nodeFlags?: string[]; timeoutMs?: number } = {}): Promise<IdleShim> {
    fs.mkdirSync(poolDir, { recursive: true, mode: 0o700 });
    const child = await spawnShim(['--pool', poolDir], path.join(poolDir, 'pool.log'), options);
    // Booting in the background must not slow the starts it is there to speed up: at low CPU
    // priority (nice 10). It takes back the normal one when it gets a container (pooled.ts).
    if (child.pid) os.setPriority(child.pid, IDLE_NICENESS);
    const link = new ShimLink(child);
    const timeoutMs = options.timeoutMs ?? scaled(15_000);
    const line = await link.next(timeoutMs, () => {
      child.kill('SIGKILL');
      return new ShimStartError(`timed out: a pooled shim said nothing within ${timeoutMs} ms (killed); a slow machine? set WORKSHOP_SLOW=3 or run \`workshop doctor\``);
    });
    if (line === undefined || !(JSON.parse(line) as { ready?: boolean }).ready) {
      child.kill('SIGKILL');
      throw new ShimStartError(`a pooled shim exited before it was ready; see ${path.join(poolDir, 'pool.log')}`);
    }
    return new IdleShim(link);
  }
}

/**
 * The container's part of the options, checked, with its defaults; its folder is made. Any
 * shim gets the same: a new one as arguments, a pooled one on fd 3, a pod's over its socket.
 */
export function assignmentOf(options: StartShimOptions): ShimAssignment {
  // Node binds an over-long unix socket path to a truncated name instead of failing: refuse it here.
  const longest = path.join(options.dir, 'control.sock');
  if (Buffer.byteLength(longest) > 107) {
    throw new ShimStartError(`the shim folder's path is too long for a unix socket (${Buffer.byteLength(longest)} > 107 bytes): ${longest}; use a shorter --dir`);
  }
  // Checked here, not by a timer that would fire at once (timer-range.ts).
  checkTimerMs(options.lingerMs ?? 0, 'lingerMs');
  checkTimerMs(options.timeoutMs ?? 0, 'timeoutMs');
  fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  return {
    id: options.id,
    bundle: options.bundle,
    dir: options.dir,
    runtime: options.runtime ?? 'runc',
    stateRoot: options.stateRoot,
    stdin: options.stdin ?? false,
    lingerMs: options.lingerMs ?? 5 * 60_000,
    logFile: options.logFile,
    waitForStart: options.waitForStart ?? false,
  };
}

/**
 * Start a shim for one container; resolves once the container runs (or, with waitForStart,
 * exists). With `idle`, that pooled shim gets the container, and no new process starts
 * (unless it died meanwhile: then a new one does).
 */
export async function startShim(options: StartShimOptions, idle?: IdleShim): Promise<{ shim: ProcessIdentity; pid: number }> {
  const assignment = assignmentOf(options);
  let link: ShimLink;
  if (idle?.alive) {
    link = idle.assign(assignment);
  } else {
    const args = [
      '--id', assignment.id,
      '--bundle', assignment.bundle,
      '--dir', assignment.dir,
      '--runtime', assignment.runtime,
      '--state-root', assignment.stateRoot,
      '--linger-ms', String(assignment.lingerMs),
      ...(assignment.stdin ? ['--stdin'] : []),
      ...(assignment.logFile ? ['--log-file', assignment.logFile] : []),
      ...(assignment.waitForStart ? ['--wait-for-start'] : []),
    ];
    link = new ShimLink(await spawnShim(args, path.join(options.dir, 'shim.log'), options));
  }
  const child = link.child;
  // shim.json at once, by us (the shim writes the same once it runs): if we die while it boots,
  // the next manager still finds it, and can stop it, instead of a shim nobody knows of.
  if (child.pid) writeIdentity(options.dir, child.pid);

  const handshakeMs = options.timeoutMs ?? scaled(15_000);
  const line = await link.next(handshakeMs, () => {
    // Nothing left behind: the shim goes (its container, if any, is deleted by the caller's
    // clean-up or by `runc delete --force`), and so does its folder.
    child.kill('SIGKILL');
    fs.rmSync(options.dir, { recursive: true, force: true });
    return new ShimStartError(`timed out: the shim for ${options.id} said nothing within ${handshakeMs} ms (killed); a slow machine? set WORKSHOP_SLOW=3 or run \`workshop doctor\``);
  });
  if (line === undefined) throw shimDied(options.dir, `the shim for ${options.id} exited (${child.exitCode ?? child.signalCode}) before the container ran`);
  const message = JSON.parse(line) as { ok: boolean; pid?: number; error?: string };
  if (!message.ok) {
    // Nothing left behind: the shim exits after saying why; wait for it, then remove its folder.
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => (child.kill('SIGKILL'), resolve()), scaled(5000));
        child.once('exit', () => (clearTimeout(timer), resolve()));
      });
    }
    fs.rmSync(options.dir, { recursive: true, force: true });
    throw notImplementedIn(message.error ?? '') ?? new ShimStartError(message.error ?? 'the shim failed');
  }
  link.release(); // the shim must not keep us alive, nor we it
  return { shim: readIdentity(options.dir)!, pid: message.pid! };
}

/** A shim's own log (its stderr): why it died, if it did. */
function shimLog(dir: string): string {
  try {
    return fs.readFileSync(path.join(dir, 'shim.log'), 'utf8').trim();
  } catch {
    return '';
  }
}

/** The error for a shim that died: its "not implemented yet" if it hit one, else its last words. */
export function shimDied(dir: string, what: string): Error {
  const log = shimLog(dir);
  const tail = log.split('\n').slice(-8).join('\n');
  return notImplementedIn(log) ?? new ShimStartError(tail ? `${what}; the shim's log ends with:\n${tail}` : what);
}

/** Talks to a shim through its control socket. */
export class ShimClient {
  /** `execId`: a client of one of the container's exec processes (see exec()); every request names it. */
  constructor(
    readonly dir: string,
    readonly execId?: string,
  ) {}

  /** Run another process in the container, kept by the shim; then talk to it with the client returned. */
  async exec(execId: string, spec: ExecSpec): Promise<{ client: ShimClient; state: ExecState }> {
    const state = (await this.ok({ op: 'exec', exec: execId, process: spec })) as unknown as ExecState;
    return { client: this.forExec(execId), state };
  }

  /** A client of an exec process that runs already (a manager that restarted finds it again by id). */
  forExec(execId: string): ShimClient {
    return new ShimClient(this.dir, execId);
  }

  /** The request as sent: about the exec process when this client is one's. */
  private addressed(request: object): object {
    return this.execId === undefined ? request : { ...request, exec: this.execId };
  }

  get socketPath(): string {
    return path.join(this.dir, 'control.sock');
  }

  /** One request, one reply. */
  async request(request: object, timeoutMs = scaled(10_000)): Promise<{ ok: boolean; error?: string; [key: string]: unknown }> {
    const connection = net.connect(this.socketPath);
    try {
      return await new Promise((resolve, reject) => {
        let text = '';
        const timer = timeoutMs > 0 ? setTimeout(() => reject(new Error(`timed out: the shim did not answer ${JSON.stringify(request)} within ${timeoutMs} ms (its control socket: ${this.socketPath}; its log: ${path.join(this.dir, 'shim.log')})`)), timeoutMs) : undefined;
        connection.on('error', (error) => {
          clearTimeout(timer);
          reject(this.failure(`cannot reach the shim at ${this.socketPath}: ${error.message}`));
        });
        connection.on('close', () => {
          clearTimeout(timer);
          if (!text.includes('\n')) reject(this.failure(`the shim closed ${this.socketPath} without a reply`));
        });
        connection.on('connect', () => connection.write(JSON.stringify(this.addressed(request)) + '\n'));
        connection.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (!text.includes('\n')) return;
          clearTimeout(timer);
          resolve(JSON.parse(text.slice(0, text.indexOf('\n'))));
        });
      });
    } finally {
      connection.destroy();
    }
  }

  /** An error for a shim that does not answer: its own last words when it left some. */
  private failure(what: string): Error {
    return shimDied(this.dir, what);
  }

  private async ok(request: object, timeoutMs?: number): Promise<Record<string, unknown>> {
    const reply = await this.request(request, timeoutMs);
    if (!reply.ok) throw new Error(`shim: ${reply.error}`);
    return reply;
  }

  async state(): Promise<ShimState> {
    return (await this.ok({ op: 'state' })) as unknown as ShimState;
  }

  /** Resolves with the exit status once the container has exited. */
  async wait(): Promise<ExitStatus> {
    return (await this.ok({ op: 'wait' }, 0)).exit as ExitStatus;
  }

  /** Start a container its shim only created (startShim's waitForStart). */
  async start(): Promise<void> {
    await this.ok({ op: 'start' });
  }

  async kill(signal = 'SIGTERM'): Promise<void> {
    await this.ok({ op: 'kill', signal });
  }

  async resize(rows: number, cols: number): Promise<void> {
    await this.ok({ op: 'resize', rows, cols });
  }

  async closeStdin(): Promise<void> {
    await this.ok({ op: 'close-stdin' });
  }

  /** The log at its path again, a new file if it was renamed (log rotation). */
  async reopenLog(): Promise<void> {
    await this.ok({ op: 'reopen-log' });
  }

  /**
   * Delete the container's runtime state; resolves once the shim itself has exited. A shim
   * that runs other containers too (`sharedShim`: chapter 07's pod shim) stays: then once
   * the container is deleted.
   */
  async delete(options: { sharedShim?: boolean } = {}): Promise<void> {
    const identity = readIdentity(this.dir);
    await this.ok({ op: 'delete' });
    if (options.sharedShim || this.execId !== undefined) return; // (an exec's delete leaves the shim)
    for (let waited = 0; identity && isAlive(identity); waited += 10) {
      if (waited > scaled(5000)) throw new Error(`the shim (pid ${identity.pid}) did not exit after delete`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * A raw two-way stream to the container: its output in, our input out. It comes paused:
   * listen for 'data' and call resume().
   */
  async attach(timeoutMs = scaled(10_000)): Promise<net.Socket> {
    const connection = net.connect(this.socketPath);
    let closedEarly = () => {};
    // The first line is the reply; the rest is the container's output.
    try {
      await new Promise<void>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => reject(new Error(`timed out: the shim did not answer attach within ${timeoutMs} ms (its control socket: ${this.socketPath})`)), timeoutMs);
        const fail = (error: Error) => (clearTimeout(timer), reject(error));
        closedEarly = () => fail(this.failure(`the shim closed ${this.socketPath} before answering attach`));
        connection.once('close', closedEarly);
        connection.on('error', (error) => fail(this.failure(`cannot reach the shim at ${this.socketPath}: ${error.message}`)));
        connection.once('connect', () => connection.write(JSON.stringify(this.addressed({ op: 'attach' })) + '\n'));
        const onData = (chunk: Buffer) => {
          text += chunk.toString('latin1');
          const newline = text.indexOf('\n');
          if (newline === -1) return;
          clearTimeout(timer);
          connection.off('data', onData);
          // Paused until the caller listens: not a byte of output may fall on the floor.
          connection.pause();
          const reply = JSON.parse(text.slice(0, newline)) as { ok: boolean; error?: string };
          if (!reply.ok) return reject(new Error(`shim: ${reply.error}`));
          const rest = Buffer.from(text.slice(newline + 1), 'latin1');
          if (rest.length) connection.unshift(rest);
          resolve();
        };
        connection.on('data', onData);
      });
    } catch (error) {
      connection.destroy();
      throw error;
    }
    connection.off('close', closedEarly); // from here on, the end of the stream is the caller's
    return connection;
  }
}
