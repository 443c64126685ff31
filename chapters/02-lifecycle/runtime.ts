/**
 * A typed wrapper over the OCI runtime's command line: runc or crun, which share it.
 *
 * `runc run` (chapter 01) does everything in one blocking call. A manager needs the steps one
 * by one, as the OCI runtime spec defines them:
 *
 *   create  -> the container exists: namespaces, mounts, cgroup; its process waits (status "created")
 *   start   -> the process execs the user's command                 (status "running")
 *   (the process exits)                                                (status "stopped")
 *   delete  -> the runtime forgets it: state folder and cgroup removed
 *
 * plus state, kill, exec, ps and events. containerd's shim and conmon call exactly these.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa, type Options } from 'execa';
import { DEFAULT_TIMEOUT_MS, readRuntimeErrors, RuntimeError, type RunResult, type RuntimeName } from '#lower/01-bundle/run.ts';
import { notImplemented } from '#lib/not-implemented.ts';

export { RuntimeError, type RunResult, type RuntimeName };

/** What `runc state` prints (the OCI runtime spec's "state" of a container). */
export interface ContainerState {
  ociVersion: string;
  id: string;
  /** The container's init process, as seen from the host; 0 once stopped. */
  pid: number;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  bundle: string;
  rootfs?: string;
  /** RFC 3339 time of `create`. */
  created?: string;
  annotations?: Record<string, string>;
}

/** Where the container's stdin, stdout and stderr go: open file descriptors, or /dev/null. */
export interface Stdio {
  stdin?: number | 'ignore';
  stdout?: number | 'ignore';
  stderr?: number | 'ignore';
}

export interface CreateOptions {
  bundle: string;
  /** The runtime writes the container's host PID here once it exists. */
  pidFile?: string;
  /** For a `process.terminal: true` bundle: where to send the PTY master (see console-socket.ts). */
  consoleSocket?: string;
  stdio?: Stdio;
}

export interface ExecOptions {
  args: string[];
  /** KEY=value entries for the process (runc adds them to the container's environment; crun 1.8 replaces it). */
  env?: string[];
  cwd?: string;
  user?: { uid: number; gid: number };
  timeoutMs?: number;
}

/** execa takes any open file descriptor number for stdio at run time; its types list only 0-2. */
function fdOption(value: number | 'ignore' | undefined): Options['stdout'] & Options['stdin'] {
  return (value ?? 'ignore') as Options['stdout'] & Options['stdin'];
}

export class OciRuntime {
  readonly runtime: RuntimeName;
  readonly stateRoot: string;

  constructor(options: { runtime?: RuntimeName; stateRoot: string }) {
    this.runtime = options.runtime ?? 'runc';
    this.stateRoot = options.stateRoot;
  }

  /**
   * Run `<runtime> --root <stateRoot> --log <file> --log-format json <args...>`. The runtime's
   * own errors land in the log file as JSON lines; when there are any, throw a RuntimeError
   * with them. The log file is per call, so concurrent calls do not mix their errors, and
   * outside the state root: a tidy-up elsewhere may remove an empty state root at any time
   * (runc creates it again), but a log that cannot be opened makes runc fail without a word.
   */
  async invoke(args: string[], options: Options = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    await fs.mkdir(this.stateRoot, { recursive: true, mode: 0o700 });
    const logFile = path.join(os.tmpdir(), `${this.runtime}-log-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
    const full = ['--root', this.stateRoot, '--log', logFile, '--log-format', 'json', ...args];
    const command = `${this.runtime} --root ${this.stateRoot} ${args.join(' ')}`;
    try {
      const result = await execa(this.runtime, full, { reject: false, stdin: 'ignore', ...options });
      if (result.exitCode === undefined) {
        throw new RuntimeError(this.runtime, `could not run it (${result.code ?? result.shortMessage}): is it installed? apt-get install ${this.runtime}`, command);
      }
      const errors = await readRuntimeErrors(logFile);
      if (errors.length > 0 || (result.exitCode !== 0 && args[0] !== 'exec')) {
        throw new RuntimeError(this.runtime, errors.join('; ') || String(result.stderr || `exit code ${result.exitCode}`).trim(), command);
      }
      return { exitCode: result.exitCode, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
    } finally {
      await fs.rm(logFile, { force: true });
    }
  }

  /**
   * `create --bundle B [--pid-file F] [--console-socket S] ID`, with the container's stdio
   * set to the given file descriptors. Resolves once the container exists (status
   * "created"): its process is waiting for `start`.
   */
  async create(id: string, options: CreateOptions): Promise<void> {
    // EXERCISE(create): run the runtime's create with the bundle, pid file, console socket and stdio
    // Hints: the container inherits the runtime's stdin/stdout/stderr, so pass the fds as
    // execa's stdin/stdout/stderr options. Never give it a pipe back to us: runc's `create`
    // exits at once, but a pipe stays open as long as the container lives, and execa would
    // wait for it to close.
    throw notImplemented("02-lifecycle/create", "run the runtime's create with the bundle, pid file, console socket and stdio");
    // END EXERCISE
  }

  /** `start ID`: the waiting process execs the container's command. */
  async start(id: string): Promise<void> {
    await this.invoke(['start', id]);
  }

  /** `state ID`, parsed. Throws a RuntimeError ("container does not exist") for an unknown id. */
  async state(id: string): Promise<ContainerState> {
    // EXERCISE(state): ask the runtime for the container's state and parse its JSON
    // Hints: `runc state ID` prints one JSON object (see ContainerState).
    throw notImplemented("02-lifecycle/state", "ask the runtime for the container's state and parse its JSON");
    // END EXERCISE
  }

  /** `kill [--all] ID SIGNAL`: send a signal to the container's init (or, with all, to every process). */
  async kill(id: string, signal: NodeJS.Signals | number = 'SIGTERM', options: { all?: boolean } = {}): Promise<void> {
    await this.invoke(['kill', ...(options.all ? ['--all'] : []), id, String(signal)]);
  }

  /** `delete [--force] ID`: forget a stopped container (force: kill it first). */
  async delete(id: string, options: { force?: boolean } = {}): Promise<void> {
    await this.invoke(['delete', ...(options.force ? ['--force'] : []), id]);
  }

  /** `list --format json`: every container under this state root. */
  async list(): Promise<ContainerState[]> {
    const { stdout } = await this.invoke(['list', '--format', 'json']);
    return (JSON.parse(stdout || '[]') ?? []) as ContainerState[];
  }

  /** `ps --format json ID`: the host PIDs of the container's processes. */
  async ps(id: string): Promise<number[]> {
    const { stdout } = await this.invoke(['ps', '--format', 'json', id]);
    return (JSON.parse(stdout || '[]') ?? []) as number[];
  }

  /** One `events --stats ID` sample: the cgroup's counters (memory, pids, cpu...). */
  async stats(id: string): Promise<{ memory?: { usage?: { usage: number } }; pids?: { current: number } }> {
    const { stdout } = await this.invoke(['events', '--stats', id]);
    return (JSON.parse(stdout) as { data: object }).data;
  }

  /**
   * `exec [--env K=V]... [--cwd D] [--user U:G] ID ARGS...`: run another process inside the
   * running container's namespaces and cgroup. Resolves with its own exit code and output.
   */
  async exec(id: string, options: ExecOptions): Promise<RunResult> {
    // EXERCISE(exec): run a process in the container with the runtime's exec, return its exit code and output
    // Hints: options go before the id, the command after it. Unlike `create`, the output
    // here is ours to collect: execa's default pipes are right, because exec waits for the
    // process to end. invoke() does not treat a non-zero exit of `exec` as a runtime error.
    throw notImplemented("02-lifecycle/exec", "run a process in the container with the runtime's exec, return its exit code and output");
    // END EXERCISE
  }
}
