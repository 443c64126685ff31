/**
 * The watch mode's vitest, kept up between check runs (./check-server.mjs runs in it). The
 * dashboard starts one when it opens, so that the first save already finds it warm; each run
 * then costs only its worker and its checks (1.2-1.6 s for chapter 00's compare-ns checks at
 * load 7, against 4.7 s for a one-shot `vitest run`).
 *
 * One server serves one target folder and one choice of layers (`layers own` changes how
 * `#lower/` imports resolve, which is vitest's configuration): asked for another, it is
 * replaced. A cancelled run (`q`) ends the server and all it started, as a one-shot run is
 * ended; the next run starts a fresh one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { stopProcessGroup } from '../host/processes.ts';
import { REPO_ROOT } from '../paths.ts';
import { scaled } from '../slow.ts';
import { onEventLines, type CheckEvent } from './reporter.ts';

/** What the server writes besides the reporter's events. */
type ServerEvent = CheckEvent | { type: 'ready' } | { type: 'done'; id: number; error?: string };

export interface ServerRun {
  files: string[];
  testNamePattern?: string;
  env: Record<string, string>;
  /** Each reporter event of this run, as it comes. */
  onEvent: (event: CheckEvent) => void;
  /** vitest's own report of this run (for last-check.log). */
  onOutput: (chunk: Buffer) => void;
}

export class CheckServer {
  private child?: ChildProcess;
  private ready?: Promise<void>;
  private current?: { id: number; run: ServerRun; resolve: () => void; reject: (error: Error) => void };
  private nextId = 1;
  /** The server's process group, for a cancel: vitest and every worker and process it started. */
  pgid = 0;

  constructor(
    readonly targetDir: string,
    readonly ownLayers: boolean,
  ) {}

  /** Start the server now (the dashboard does it when it opens); resolves when it can take a run. */
  start(): Promise<void> {
    this.ready ??= new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'lib/checks/check-server.mjs')], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          // Read by vitest.config.ts when the server starts: it cannot change afterwards.
          WORKSHOP_OWN_LAYERS: this.ownLayers ? '1' : '0',
          WORKSHOP_EVENTS_FD: '3',
          FORCE_COLOR: '0',
          NO_COLOR: '1',
        },
        stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
        detached: true,
      });
      this.child = child;
      this.pgid = child.pid ?? 0;
      const starting = setTimeout(() => {
        this.stop();
        reject(new Error(`the check server (vitest, kept up for the watch mode) did not start within ${scaled(60_000) / 1000} s`));
      }, scaled(60_000));
      const output = (chunk: Buffer) => this.current?.run.onOutput(chunk);
      child.stdout!.on('data', output);
      child.stderr!.on('data', output);
      onEventLines<ServerEvent>(child.stdio[3]!, (event) => {
        if (event.type === 'ready') {
          clearTimeout(starting);
          resolve();
        } else if (event.type === 'done') {
          const current = this.current;
          if (current?.id !== event.id) return;
          this.current = undefined;
          if (event.error) current.reject(new Error(`the check server could not run the checks: ${event.error.split('\n')[0]}`));
          else current.resolve();
        } else {
          this.current?.run.onEvent(event);
        }
      });
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(starting);
        const why = new Error(`the check server (vitest) ended (${signal ?? `exit ${code}`})`);
        reject(why);
        this.current?.reject(why);
        this.current = undefined;
        this.child = undefined;
        this.ready = undefined;
      });
      // (If the dashboard ends without close(), even killed, the server reads the end of its stdin and ends too.)
    });
    return this.ready;
  }

  /** Run checks in the server; resolves once vitest has reported all of them. One run at a time. */
  async run(run: ServerRun): Promise<void> {
    await this.start();
    if (this.current) throw new Error('the check server is busy with another run');
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => (this.current = { id, run, resolve, reject }));
    this.child!.stdin!.write(JSON.stringify({ id, files: run.files, testNamePattern: run.testNamePattern, env: run.env }) + '\n');
    return done;
  }

  /** Started (or starting) and not stopped: it can take runs. */
  get alive(): boolean {
    return this.ready !== undefined;
  }

  /** End the server and everything it started (its process group). */
  stop(): void {
    this.ready = undefined;
    if (this.pgid) stopProcessGroup(this.pgid);
  }

  /** Close the server gracefully: its global teardown runs, as at the end of a one-shot run. */
  close(): void {
    this.child?.stdin?.end();
    this.ready = undefined;
  }
}
