/**
 * One more process in a running container, run by its shim: `conman exec`. The shim runs
 *
 *   runc exec --detach --process DIR/process.json --pid-file DIR/exec.pid [--console-socket DIR/console.sock] ID
 *
 * process.json is the container's own `process` (config.json: its user, capabilities, env...)
 * with this exec's args, env, cwd and terminal, and the terminal's size: runc sizes the
 * terminal before the process runs, so a `stty size` run first thing finds it (with `--tty`
 * and ARGS on the command line there is no size: it could only come after the start). This is
 * how containerd's shim calls runc too (go-runc's Exec).
 *
 * runc starts the process inside the container's namespaces and cgroup and exits; the process
 * is orphaned to the shim (a child subreaper), which reaps it as it reaps the container's
 * init and writes its status to DIR/exit.json. Its stdio is the shim's too: FIFOs, or a
 * terminal, as the container's own (stdio.ts). So an exec outlives the manager that asked
 * for it: conmand may die and come back, and `conman exec --attach ID` finds the process
 * where it was. containerd's shim runs execs the same way (`runc exec --detach`); cri-o
 * starts a conmon for each one.
 *
 * While nobody is attached the output is held (up to HOLD_BYTES, then the shim stops
 * reading, and a process that writes more waits, as it would on a full pipe), so the first
 * attach, or the next one after a manager's crash, misses nothing.
 *
 * On the attach stream, a process with a terminal sends its raw bytes. Without one, stdout
 * and stderr must stay apart on one connection: each chunk goes in a frame with Docker's
 * `stdcopy` header (8 bytes: the stream, 1 or 2, three zeros, the length as a big-endian
 * uint32). Input goes the other way, raw.
 *
 * Its folder (DIR = <shim dir>/execs/<exec id>) keeps exec.pid, the FIFOs or console.sock
 * while it runs, and exit.json once it has ended.
 */
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { ConsoleSocket } from '#lower/02-lifecycle/console-socket.ts';
import type { OciRuntime } from '#lower/02-lifecycle/runtime.ts';
import { Terminal } from '#lower/02-lifecycle/terminal.ts';
import type { ShimApi, ShimState } from './control.ts';
import { writeExitStatus, type ExitStatus } from './exit-status.ts';
import { openContainerStdio } from './stdio.ts';
import { setWindowSize } from './syscalls.ts';
import type { DecodedStatus } from './wait-status.ts';

/** What to run, as `conman exec` asks it. */
export interface ExecSpec {
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  tty?: boolean;
  /** Give it a stdin (attach can type into it). A terminal always has one. */
  stdin?: boolean;
  /** The terminal's size from the start (with tty). */
  size?: { rows: number; cols: number };
}

/** The container's process with an exec's changes: what `runc exec --process` runs. */
export function execProcessSpec(base: Record<string, unknown>, spec: ExecSpec): Record<string, unknown> {
  // Variables of the exec replace the container's of the same name (a second PATH=... would
  // be ignored by most programs: getenv finds the first).
  const env = new Map(((base.env as string[] | undefined) ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry] as const));
  for (const [key, value] of Object.entries(spec.env ?? {})) env.set(key, `${key}=${value}`);
  return {
    ...base,
    args: spec.args,
    env: [...env.values()],
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    terminal: spec.tty === true,
    ...(spec.tty && spec.size ? { consoleSize: { height: spec.size.rows, width: spec.size.cols } } : {}),
  };
}

/** Output held for a client while none is attached; then the shim stops reading. */
const HOLD_BYTES = 1 << 20;
/** An exec id names a folder: letters, digits, `_.-`, as container ids. */
export const EXEC_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

type Stream = 'stdout' | 'stderr';

/** Docker's stdcopy frame: [stream, 0, 0, 0, size (uint32 BE)] then the bytes. */
export function stdcopyFrame(stream: Stream, chunk: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream === 'stdout' ? 1 : 2;
  header.writeUInt32BE(chunk.length, 4);
  return Buffer.concat([header, chunk]);
}

export interface ExecState extends ShimState {
  tty: boolean;
  stdin: boolean;
  args: string[];
}

export class ExecProcess implements ShimApi {
  private status: ShimState['status'] = 'created';
  private pid = 0;
  private exit?: ExitStatus;
  private readonly exited: Promise<ExitStatus>;
  private resolveExit!: (status: ExitStatus) => void;
  private terminal?: Terminal;
  private stdinWriter?: number;
  /** Readers of the output, paused while nobody is attached and the hold is full. */
  private sources: { pause(): void; resume(): void }[] = [];
  private outputEnded: Promise<unknown> = Promise.resolve();
  private readonly attached = new Set<net.Socket>();
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Output over and exit.json written: attached clients are told by the end of their stream. */
  private over = false;

  constructor(
    readonly id: string,
    /** This exec's folder, under the shim's. */
    readonly dir: string,
    private readonly container: { id: string; runtime: OciRuntime; bundle: string },
    readonly spec: ExecSpec,
    /** A delete request for this exec: the shim forgets it. */
    private readonly onDelete: () => void,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  /** The PID once launch() returned; 0 before. */
  get processId(): number {
    return this.pid;
  }

  /** `runtime exec --detach`: resolves once the process runs (with its PID), or throws the runtime's error. */
  async launch(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const pidFile = path.join(this.dir, 'exec.pid');
    const processFile = path.join(this.dir, 'process.json');
    const base = (JSON.parse(fs.readFileSync(path.join(this.container.bundle, 'config.json'), 'utf8')) as { process: Record<string, unknown> }).process;
    fs.writeFileSync(processFile, JSON.stringify(execProcessSpec(base, this.spec)), { mode: 0o600 });
    const args = ['exec', '--detach', '--process', processFile, '--pid-file', pidFile];
    if (this.spec.tty) {
      const socket = await ConsoleSocket.listen(path.join(this.dir, 'console.sock'));
      try {
        // runc sends the terminal's master before it exits: after a clean exit it is waiting for us.
        await this.container.runtime.invoke([...args, '--console-socket', socket.path, this.container.id]);
        this.terminal = new Terminal(await socket.receiveMaster());
      } finally {
        socket.close();
      }
      this.terminal.on('data', (chunk: Buffer) => this.output('stdout', chunk));
      this.terminal.on('error', () => {}); // the end of a terminal is EIO: handled as 'end'
      this.sources = [this.terminal];
      this.outputEnded = this.terminal.ended;
    } else {
      const stdio = openContainerStdio(this.dir, { stdin: this.spec.stdin === true });
      try {
        // Without a terminal, runc --detach passes its own stdio on to the process.
        const fds = stdio.forContainer as unknown as Record<'stdin' | 'stdout' | 'stderr', never>;
        await this.container.runtime.invoke([...args, this.container.id], { stdin: fds.stdin, stdout: fds.stdout, stderr: fds.stderr });
      } catch (error) {
        stdio.stdout.destroy();
        stdio.stderr.destroy();
        if (stdio.stdinWriter !== undefined) fs.closeSync(stdio.stdinWriter);
        throw error;
      } finally {
        stdio.closeContainerEnds();
      }
      this.stdinWriter = stdio.stdinWriter;
      stdio.stdout.on('data', (chunk: Buffer) => this.output('stdout', chunk));
      stdio.stderr.on('data', (chunk: Buffer) => this.output('stderr', chunk));
      this.sources = [stdio.stdout, stdio.stderr];
      const ended = (stream: net.Socket) => new Promise<void>((resolve) => stream.once('close', () => resolve()));
      this.outputEnded = Promise.all([ended(stdio.stdout), ended(stdio.stderr)]);
    }
    this.pid = Number(fs.readFileSync(pidFile, 'utf8'));
    if (!this.exit) this.status = 'running';
  }

  /** The process printed something: to every attached client, or held for the next one. */
  private output(stream: Stream, chunk: Buffer): void {
    const data = this.spec.tty ? chunk : stdcopyFrame(stream, chunk);
    if (this.attached.size > 0) {
      for (const client of this.attached) client.write(data);
      return;
    }
    this.held.push(data);
    this.heldBytes += data.length;
    // Nobody reads: stop reading too, so the process waits on a full pipe instead of our memory growing.
    if (this.heldBytes >= HOLD_BYTES) for (const source of this.sources) source.pause();
  }

  /** A client attached (the control socket's `attach` with this exec's id): held output first, then live. */
  attach(connection: net.Socket): void {
    for (const data of this.held) connection.write(data);
    this.held = [];
    this.heldBytes = 0;
    this.attached.add(connection);
    for (const source of this.sources) source.resume();
    connection.on('close', () => this.attached.delete(connection));
    connection.on('data', (chunk: Buffer) => {
      if (this.status !== 'running') return;
      if (this.terminal) this.terminal.write(chunk.toString('utf8'));
      else if (this.stdinWriter !== undefined) fs.writeSync(this.stdinWriter, chunk);
    });
    connection.resume(); // the control server paused it for us
    if (this.over) connection.end(); // nothing more will come
  }

  /** The shim reaped our process. */
  onExit(decoded: DecodedStatus): void {
    if (this.exit) return;
    this.exit = { exitCode: decoded.exitCode, ...(decoded.signal ? { signal: decoded.signal } : {}), oomKilled: false, finishedAt: new Date().toISOString() };
    this.status = 'stopped';
    // Let the output drain first (bounded: a child it left behind may hold the pipe open).
    const drained = Promise.race([this.outputEnded, new Promise((resolve) => setTimeout(resolve, 2000))]);
    void drained.then(() => {
      this.terminal?.close();
      if (this.stdinWriter !== undefined) fs.closeSync(this.stdinWriter);
      this.stdinWriter = undefined;
      try {
        writeExitStatus(this.dir, this.exit!);
      } catch (error) {
        // Only the disk's failures (ENOSPC...) or a folder removed with the container are
        // outlived: the status is still told by `wait` and `state`. Anything else is a bug.
        if (typeof (error as NodeJS.ErrnoException).code !== 'string') throw error;
        console.error(`conman-shim: exec ${this.id}: cannot write exit.json: ${(error as Error).message}`);
      }
      this.over = true;
      for (const client of this.attached) client.end();
      this.resolveExit(this.exit!);
    });
  }

  /** It has exited and its last output is out: the shim may forget it (forgetOldExecs). */
  get ended(): boolean {
    return this.over;
  }

  // ----- ShimApi: the same verbs as the container's, keyed by exec id (containerd's Task API does so) -----

  state(): ExecState {
    const { tty = false, stdin = false, args } = this.spec;
    return { id: this.id, status: this.status, pid: this.pid, tty, stdin: stdin || tty, args, ...(this.exit && this.over ? { exit: this.exit } : {}) };
  }

  wait(): Promise<ExitStatus> {
    return this.exited;
  }

  async start(): Promise<void> {
    throw new Error('start: an exec process starts when it is made');
  }

  async kill(signal: string): Promise<void> {
    if (this.status !== 'running') throw new Error(`exec ${this.id} has already exited`);
    process.kill(this.pid, signal as NodeJS.Signals);
  }

  resize(rows: number, cols: number): void {
    if (!this.terminal) throw new Error(`resize: exec ${this.id} has no terminal`);
    if (this.status === 'running') setWindowSize(this.terminal.masterFd, rows, cols);
  }

  closeStdin(): void {
    if (this.status !== 'running') return;
    if (this.terminal) this.terminal.write('\x04'); // Ctrl-D: end of input for a terminal's reader
    else if (this.stdinWriter !== undefined) {
      fs.closeSync(this.stdinWriter);
      this.stdinWriter = undefined;
    }
  }

  async delete(): Promise<void> {
    if (this.status === 'running') throw new Error(`delete: exec ${this.id} is still running; kill it first`);
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.onDelete();
  }
}
