/**
 * conman-shim: one small daemon per container, between the manager and the runtime.
 *
 * The runtime (runc) exits as soon as the container runs, and the manager must be free to
 * crash or be upgraded. Someone must still be the container's parent, hold its stdio or
 * terminal, write its logs and learn its exit code: the shim. In order, run():
 *
 *   1. becomes a child subreaper (the container's init will be handed to it),
 *   2. opens the stdio FIFOs (or a console socket for a terminal) and the CRI log file,
 *   3. `runtime create` + `runtime start`, then tells its starter "running" (or the
 *      runtime's error) through the handshake pipe: fd 3 (conman-shim.ts). With waitForStart it says
 *      "created" after `create` and starts on the control socket's `start` request, so that
 *      a manager can attach (and size the terminal) before the first byte is printed,
 *   4. serves the control socket, copies output to the log and to attached clients,
 *   5. reaps the container, writes exit.json atomically (with OOM-killed or not),
 *   6. waits for `delete` (or a bounded time), deletes the runtime's state and exits.
 *
 * Meanwhile it runs the container's exec processes (`conman exec`) on request: exec-process.ts.
 *
 * A full disk ends none of this: output that cannot be logged is dropped and counted
 * (log-writer.ts), and an exit.json that cannot be written is retried every second while
 * `wait` and `state` still tell the exit; the shim lingers until it is written or deleted.
 *
 * The files it keeps in its folder (--dir): shim.json (its PID and start time), control.sock,
 * container.log, exit.json, container.pid, the FIFOs or console.sock, and execs/<exec id>/.
 */
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { ConsoleSocket } from '#lower/02-lifecycle/console-socket.ts';
import { OciRuntime, type RuntimeName } from '#lower/02-lifecycle/runtime.ts';
import { Terminal } from '#lower/02-lifecycle/terminal.ts';
import { oomKillCount } from '#lib/host/cgroups.ts';
import type { Spec } from '#lib/oci-spec.ts';
import { ControlServer, type ShimApi, type ShimState } from './control.ts';
import { ExecProcess, type ExecSpec } from './exec-process.ts';
import { writeExitStatus, type ExitStatus } from './exit-status.ts';
import { writeOwnIdentity } from './identity.ts';
import { CriLogWriter } from './log-writer.ts';
import { Reaper } from './reaper.ts';
import { openContainerStdio } from './stdio.ts';
import { setWindowSize } from './syscalls.ts';
import type { DecodedStatus } from './wait-status.ts';

/** One container for a shim: what startShim() gives a new shim as arguments, or a pooled one as a line (pooled.ts). */
export interface ShimAssignment {
  id: string;
  bundle: string;
  /** The shim's own folder: sockets, FIFOs, log, exit status. */
  dir: string;
  runtime: RuntimeName;
  stateRoot: string;
  /** Give the container stdin (attach can type into it). A terminal always has one. */
  stdin: boolean;
  /** How long to stay after the container exited when nobody says delete. */
  lingerMs: number;
  /** The container's CRI log; default <dir>/container.log. A manager keeps it elsewhere to outlive restarts. */
  logFile?: string;
  /**
   * Stop after `create` and start on request (containerd's Create and Start are two calls
   * too): whoever attaches in between sees the container's output from its first byte.
   */
  waitForStart?: boolean;
}

export interface ShimOptions extends ShimAssignment {
  /** Tells the starter "running" (or "created", or why not), once: conman-shim.ts writes it to fd 3. */
  handshake?: (message: object) => void;
}

/** Ended exec processes a shim keeps (their exit status and unread output), oldest forgotten first. */
const MAX_ENDED_EXECS = 32;

export class Shim implements ShimApi {
  private readonly runtime: OciRuntime;
  private readonly reaper: Reaper;
  /** A shim of its own process starts and stops its reaper; a pod's shims share their process's one. */
  private readonly ownsReaper: boolean;
  private readonly attached = new Set<net.Socket>();
  private control?: ControlServer;
  private log?: CriLogWriter;
  private terminal?: Terminal;
  private stdinWriter?: number;
  private status: ShimState['status'] = 'created';
  private pid = 0;
  private exit?: ExitStatus;
  private readonly exited: Promise<ExitStatus>;
  private resolveExit!: (status: ExitStatus) => void;
  private readonly done: Promise<void>;
  private finish!: () => void;
  private tty = false;
  /** The container's cgroup (relative to each hierarchy), read from config.json at start. */
  private cgroup = '';
  /** delete() of a container that never started: its init's death is not an exit. */
  private deleting = false;
  /** With waitForStart: the timer that deletes a container nobody started. */
  private abandoned?: NodeJS.Timeout;
  /** Resolves when the container's output streams have ended (all its writers are gone). */
  private outputEnded: Promise<unknown> = Promise.resolve();
  /** Resolves once exit.json is on disk: until then this process holds the exit's only copy. */
  private readonly exitSaved: Promise<void>;
  private resolveExitSaved!: () => void;
  private exitFileError?: string;
  private exitFileRetry?: NodeJS.Timeout;
  /** The log's drop counters, kept when the log is closed. */
  private logDropped = { records: 0, bytes: 0 };
  /** Exec processes by id, running or ended (the last MAX_ENDED_EXECS ended ones are kept for their exit). */
  private readonly execs = new Map<string, ExecProcess>();
  /** Execs being launched: their PID is not known yet, and a quick one may be reaped before it is. */
  private launching = 0;
  private readonly earlyExits = new Map<number, DecodedStatus>();

  /** `reaper`: the process's one, when this shim shares its process with others (chapter 07's pod shim); else its own. */
  constructor(
    readonly options: ShimOptions,
    reaper?: Reaper,
  ) {
    this.reaper = reaper ?? new Reaper();
    this.ownsReaper = reaper === undefined;
    this.runtime = new OciRuntime({ runtime: options.runtime, stateRoot: options.stateRoot });
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    this.done = new Promise((resolve) => (this.finish = resolve));
    this.exitSaved = new Promise((resolve) => (this.resolveExitSaved = resolve));
  }

  /** The whole life of the shim; resolves when it may exit. */
  async run(): Promise<void> {
    const { dir } = this.options;
    if (this.ownsReaper) this.reaper.start();
    writeOwnIdentity(dir);
    const onExit = (pid: number, status: DecodedStatus) => {
      if (pid === this.pid) return this.onContainerExit(status);
      const exec = [...this.execs.values()].find((process) => process.processId === pid);
      if (exec) return exec.onExit(status);
      if (this.launching > 0) {
        // Maybe an exec whose PID file we have not read yet: keep its status a moment.
        this.earlyExits.set(pid, status);
        setTimeout(() => this.earlyExits.delete(pid), 60_000).unref();
      }
    };
    this.reaper.on('exit', onExit);
    try {
      await this.serve();
    } finally {
      this.reaper.off('exit', onExit);
      if (this.ownsReaper) this.reaper.stop();
    }
  }

  private async serve(): Promise<void> {
    const { id, bundle, dir } = this.options;

    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec;
    this.tty = spec.process.terminal === true;
    this.cgroup = (spec.linux.cgroupsPath ?? `/${id}`).replace(/^\//, '');
    this.log = new CriLogWriter(this.options.logFile ?? path.join(dir, 'container.log'));
    this.logDropped = this.log.dropped;
    try {
      await this.create();
      if (!this.options.waitForStart) await this.startContainer();
    } catch (error) {
      await this.runtime.delete(id, { force: true }).catch(() => {});
      this.cleanupFiles();
      this.handshake({ ok: false, error: (error as Error).message });
      return;
    }
    this.control = new ControlServer(path.join(dir, 'control.sock'), this, (connection) => this.attach(connection));
    try {
      await this.control.listen();
    } catch (error) {
      // Without a control socket nobody could reach the container: do not leave it running.
      await this.runtime.delete(id, { force: true }).catch(() => {});
      this.cleanupFiles();
      this.handshake({ ok: false, error: `control socket: ${(error as Error).message}` });
      return;
    }
    this.handshake({ ok: true, pid: this.pid, status: this.status });
    this.reaper.reapZombies(); // the container may have exited before we listened for SIGCHLD
    if (this.status === 'created') {
      // Nobody came to start it (the starter died?): do not keep a created container for ever.
      this.abandoned = setTimeout(() => void this.delete().catch(() => this.finish()), this.options.lingerMs);
    }

    await Promise.race([this.exited, this.done]); // (done first: deleted before it started)
    await Promise.race([this.exitSaved, this.done]); // a full disk: stay while we alone know the exit
    const linger = setTimeout(() => this.finish(), this.options.lingerMs);
    await this.done;
    clearTimeout(linger);
    clearTimeout(this.exitFileRetry);
    this.control.close();
  }

  /** create (with FIFOs or a console socket) and read the container's PID. */
  private async create(): Promise<void> {
    const { id, bundle, dir } = this.options;
    const pidFile = path.join(dir, 'container.pid');
    if (this.tty) {
      const socket = await ConsoleSocket.listen(path.join(dir, 'console.sock'));
      try {
        await this.runtime.create(id, { bundle, pidFile, consoleSocket: socket.path });
        this.terminal = new Terminal(await socket.receiveMaster());
      } finally {
        socket.close();
      }
      this.terminal.on('data', (chunk: Buffer) => this.output('stdout', chunk));
      this.terminal.on('error', () => {}); // the end of a terminal is EIO: handled as 'end'
      this.outputEnded = this.terminal.ended;
    } else {
      const stdio = openContainerStdio(dir, { stdin: this.options.stdin });
      try {
        await this.runtime.create(id, { bundle, pidFile, stdio: stdio.forContainer });
      } finally {
        stdio.closeContainerEnds();
      }
      this.stdinWriter = stdio.stdinWriter;
      stdio.stdout.on('data', (chunk: Buffer) => this.output('stdout', chunk));
      stdio.stderr.on('data', (chunk: Buffer) => this.output('stderr', chunk));
      const ended = (stream: typeof stdio.stdout, name: 'stdout' | 'stderr') =>
        new Promise<void>((resolve) => stream.once('end', () => (this.log?.end(name), resolve())));
      this.outputEnded = Promise.all([ended(stdio.stdout, 'stdout'), ended(stdio.stderr, 'stderr')]);
    }
    this.pid = Number(fs.readFileSync(pidFile, 'utf8'));
  }

  /** `runtime start`: the container's process runs from here on. */
  private async startContainer(): Promise<void> {
    await this.runtime.start(this.options.id);
    if (!this.exit) this.status = 'running'; // (a quick container may have exited already)
  }

  /** The shim is dying of `error`: if the starter still waits for the handshake, tell it why. */
  reportFatal(error: string): void {
    this.handshake({ ok: false, error });
  }

  private handshake(message: object): void {
    const send = this.options.handshake;
    this.options.handshake = undefined; // once
    send?.(message);
  }

  /** The container printed something: to the log, and to every attached client. */
  private output(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.log?.write(stream, chunk);
    for (const client of this.attached) client.write(chunk);
  }

  private attach(connection: net.Socket): void {
    this.attached.add(connection);
    connection.on('close', () => this.attached.delete(connection));
    connection.on('data', (chunk: Buffer) => {
      if (this.terminal) this.terminal.write(chunk.toString('utf8'));
      else if (this.stdinWriter !== undefined) fs.writeSync(this.stdinWriter, chunk);
    });
    connection.resume(); // the control server paused it for us
    if (this.exit) connection.end(); // nothing more will come
  }

  private onContainerExit(decoded: DecodedStatus): void {
    if (this.exit || this.deleting) return;
    this.exit = {
      exitCode: decoded.exitCode,
      ...(decoded.signal ? { signal: decoded.signal } : {}),
      oomKilled: oomKillCount(this.cgroup) > 0,
      finishedAt: new Date().toISOString(),
    };
    this.status = 'stopped';
    // Let the pipes drain into the log before saying "exited": a reader of exit.json
    // expects the whole output to be in the log already. (A process that escaped the
    // container and still holds its stdout must not keep us waiting forever.)
    const drained = Promise.race([this.outputEnded, new Promise((resolve) => setTimeout(resolve, 2000))]);
    void drained.then(() => {
      this.log?.close();
      this.log = undefined;
      this.saveExit();
      for (const client of this.attached) client.end();
      if (this.stdinWriter !== undefined) fs.closeSync(this.stdinWriter);
      this.stdinWriter = undefined;
      this.resolveExit(this.exit!);
    });
  }

  /** Write exit.json; on failure (ENOSPC...) say so once and try again every second. */
  private saveExit(): void {
    try {
      writeExitStatus(this.options.dir, this.exit!);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        // Our folder is gone: the manager removed the container and reads nothing more here.
        this.resolveExitSaved();
        return;
      }
      // Only the disk's failures (ENOSPC, EIO, EDQUOT...) are waited out; anything else is a bug,
      // or an unfinished exercise: let it end the shim loudly, its message in shim.log.
      if (typeof (error as NodeJS.ErrnoException).code !== 'string') throw error;
      if (this.exitFileError === undefined) {
        console.error(`conman-shim: cannot write ${path.join(this.options.dir, 'exit.json')}: ${(error as Error).message}; retrying every second, the exit is still told over control.sock`);
      }
      this.exitFileError = (error as Error).message;
      this.exitFileRetry = setTimeout(() => this.saveExit(), 1000);
      return;
    }
    if (this.exitFileError !== undefined) console.error(`conman-shim: exit.json written at last`);
    this.exitFileError = undefined;
    this.resolveExitSaved();
  }

  // ----- ShimApi: what the control socket can ask -----

  state(): ShimState {
    return {
      id: this.options.id,
      status: this.status,
      pid: this.pid,
      ...(this.exit && this.status === 'stopped' ? { exit: this.exit } : {}),
      ...(this.logDropped.records > 0 ? { logDropped: { ...this.logDropped } } : {}),
      ...(this.exitFileError !== undefined ? { exitFileError: this.exitFileError } : {}),
    };
  }

  wait(): Promise<ExitStatus> {
    return this.exited;
  }

  reopenLog(): void {
    if (!this.log) throw new Error(`the container is ${this.status}: its log is closed`);
    this.log.reopen();
  }

  async start(): Promise<void> {
    if (this.status !== 'created') throw new Error(`start: the container is ${this.status === 'running' ? 'already running' : 'stopped'}`);
    clearTimeout(this.abandoned);
    await this.startContainer();
  }

  async kill(signal: string): Promise<void> {
    if (this.status === 'stopped') throw new Error('the container has already exited');
    await this.runtime.kill(this.options.id, signal as NodeJS.Signals);
  }

  resize(rows: number, cols: number): void {
    if (!this.terminal) throw new Error('resize: this container has no terminal');
    setWindowSize(this.terminal.masterFd, rows, cols);
  }

  closeStdin(): void {
    if (this.terminal) this.terminal.write('\x04');
    else if (this.stdinWriter !== undefined && !this.exit) {
      fs.closeSync(this.stdinWriter);
      this.stdinWriter = undefined;
    }
  }

  async delete(): Promise<void> {
    if (this.status === 'running') throw new Error('delete: the container is still running; kill it first');
    if (this.status === 'created') {
      // Never started (its starter changed its mind, or died): no exit to wait for. The
      // runtime's init, still waiting to exec the process, goes with the container.
      this.deleting = true;
      clearTimeout(this.abandoned);
    } else {
      await this.exited;
    }
    try {
      await this.runtime.delete(this.options.id, { force: true });
    } catch (error) {
      this.deleting = false; // still there: its init's end will be an exit after all
      throw error;
    }
    this.terminal?.close();
    this.cleanupFiles();
    fs.rmSync(path.join(this.options.dir, 'execs'), { recursive: true, force: true });
    setImmediate(() => this.finish());
  }

  async exec(execId: string, spec: ExecSpec): Promise<ShimState> {
    if (this.status !== 'running') throw new Error(`exec: the container is ${this.status === 'created' ? 'not started yet' : 'stopped'}`);
    if (this.execs.has(execId)) throw new Error(`exec: there is an exec ${execId} already`);
    this.forgetOldExecs();
    const dir = path.join(this.options.dir, 'execs', execId);
    const process = new ExecProcess(execId, dir, { id: this.options.id, runtime: this.runtime, bundle: this.options.bundle }, spec, () => this.execs.delete(execId));
    this.execs.set(execId, process);
    this.launching++;
    try {
      await process.launch();
    } catch (error) {
      this.execs.delete(execId);
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    } finally {
      this.launching--;
    }
    const early = this.earlyExits.get(process.processId);
    if (early) process.onExit(early);
    this.earlyExits.delete(process.processId);
    return process.state();
  }

  execProcess(execId: string): ExecProcess | undefined {
    return this.execs.get(execId);
  }

  /** Ended execs are kept for whoever asks their exit later, but not for ever. */
  private forgetOldExecs(): void {
    const ended = [...this.execs.values()].filter((process) => process.ended);
    for (const process of ended.slice(0, Math.max(0, ended.length - MAX_ENDED_EXECS + 1))) void process.delete();
  }

  /** Remove the sockets and FIFOs; keep the log and exit.json for whoever reads them later. */
  private cleanupFiles(): void {
    for (const name of ['stdout.fifo', 'stderr.fifo', 'stdin.fifo', 'console.sock', 'container.pid']) {
      fs.rmSync(path.join(this.options.dir, name), { force: true });
    }
  }
}
