/**
 * What the `conman` CLI needs from a container manager. Two things provide it: the Manager
 * library itself, in the CLI's own process (--no-daemon, as podman works), and ApiClient,
 * which asks conmand over its socket (as docker works). The CLI cannot tell them apart.
 */
import type { ExecState } from '#lower/03-shim/exec-process.ts';
import type { ExitStatus } from '#lower/03-shim/exit-status.ts';
import type { ContainerRecord } from './records.ts';
import type { Session } from './session.ts';

/** A container as `inspect` shows it: the record and where its files are. */
export interface ContainerInfo extends ContainerRecord {
  bundle: string;
  logFile: string;
  shimDir: string;
}

/** next-exit: the next time it exits (for `run`: ask before start); not-running: now, if it is not running. */
export type WaitCondition = 'next-exit' | 'not-running';

export interface ContainerApi {
  create(request: unknown): Promise<{ id: string; name: string }>;
  start(ref: string): Promise<ContainerInfo>;
  stop(ref: string, timeoutSeconds?: number): Promise<ContainerInfo>;
  kill(ref: string, signal?: string): Promise<void>;
  remove(ref: string, force?: boolean): Promise<void>;
  list(all?: boolean): Promise<ContainerInfo[]>;
  inspect(ref: string): Promise<ContainerInfo>;
  /** Resolves once the wait is registered; `exited` settles when the condition is met; `cancel` gives up. */
  watchExit(ref: string, condition?: WaitCondition): Promise<{ exited: Promise<ExitStatus | undefined>; cancel: () => void }>;
  /** The CRI log's records (raw bytes, whole lines), from the last `tail` lines; `follow` until it stops. */
  logs(ref: string, options?: { follow?: boolean; tail?: number }): Promise<AsyncIterable<Buffer>>;
  /**
   * The main process's stdio; with `start`, attach and then start it, so nothing is missed
   * (run -it, start -a); `size`: the terminal's size before the process starts.
   */
  attach(ref: string, options?: { start?: boolean; size?: { rows: number; cols: number } }): Promise<Session>;
  /** Another process in the container; its Session's execId finds it again (attachExec). `size`: its terminal's, from the start. */
  exec(ref: string, request: unknown, options?: { size?: { rows: number; cols: number } }): Promise<Session>;
  /** Back to an exec started earlier: its output since, its input, its exit. */
  attachExec(execId: string): Promise<Session>;
  /** An exec's state: running, or stopped with its exit (the shim keeps it until the container goes). */
  inspectExec(execId: string): Promise<ExecState & { container: string }>;
  close(): Promise<void>;
}
