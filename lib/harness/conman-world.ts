/**
 * A private conman world for a check: its own roots under the test run's folders, a conmand
 * of the chapter under test started and stopped by PID, and the chapter's conman CLI run as a
 * learner would run it (a real process, its exit code, stdout and stderr).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { notImplementedIn } from '../not-implemented.ts';
import { REPO_ROOT } from '../paths.ts';
import { scaled } from '../slow.ts';
import type { HostRun } from '../host/hygiene.ts';
import { targetPath } from './target.ts';

export const LAUNCH = path.join(REPO_ROOT, 'lib', 'launch.mjs');

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ConmanWorld {
  name: string;
  /** The manager's root (records, bundles) and run root (shims, sockets, netns). */
  root: string;
  runRoot: string;
  base: string;
  env: NodeJS.ProcessEnv;
  daemonLog: string;
  /** Run the chapter's conman; never throws for an exit code. */
  conman(args: string[], options?: { timeoutMs?: number; input?: string }): Promise<CommandResult>;
  /** Run it and expect `code`: else an error with its output (an unfinished exercise as such). */
  ok(args: string[], code?: number): Promise<CommandResult>;
  startDaemon(): Promise<void>;
  stopDaemon(signal?: NodeJS.Signals): Promise<void>;
  daemonPid(): number | undefined;
}

/** A world for `chapter` (e.g. "06-networking"): its conman.ts and conmand.ts, with `extraEnv` (e.g. network settings). */
export function conmanWorld(run: HostRun, chapter: string, name: string, extraEnv: Record<string, string> = {}): ConmanWorld {
  const base = path.join(run.dir, name);
  const root = path.join(base, 'lib');
  const runRoot = path.join(run.stateDir, name);
  const socket = path.join(runRoot, 'conmand.sock');
  fs.mkdirSync(base, { recursive: true });
  const env = { ...process.env, CONMAN_ROOT: root, CONMAN_RUN_ROOT: runRoot, CONMAN_SOCKET: socket, CONMAN_CGROUP_PARENT: run.cgroupParent, ...extraEnv };
  const daemonLog = path.join(base, 'conmand.log');
  let daemon: ChildProcess | undefined;

  const conman = (args: string[], options: { timeoutMs?: number; input?: string } = {}) =>
    new Promise<CommandResult>((resolve, reject) => {
      const child = spawn(process.execPath, [LAUNCH, targetPath(`${chapter}/conman.ts`), ...args], { env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      child.stdin?.end(options.input);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk) => (stdout += chunk));
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? scaled(90_000));
      child.on('error', reject);
      child.on('close', (code) => (clearTimeout(timer), resolve({ code: code ?? -1, stdout, stderr })));
    });

  const ok = async (args: string[], code = 0) => {
    const result = await conman(args);
    if (result.code !== code) throw notImplementedIn(result.stderr) ?? new Error(`conman ${args.join(' ')}: exit code ${result.code}, expected ${code}\n${result.stderr}${result.stdout}`);
    return result;
  };

  async function startDaemon(): Promise<void> {
    const log = fs.openSync(daemonLog, 'a');
    daemon = spawn(process.execPath, [LAUNCH, targetPath(`${chapter}/conmand.ts`), '--root', root, '--run-root', runRoot, '--socket', socket, '--cgroup-parent', run.cgroupParent], { env, stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    const deadline = Date.now() + scaled(30_000);
    while ((await conman(['ps']).then((r) => r.code !== 0)) && Date.now() < deadline) {
      if (daemon.exitCode !== null) throw notImplementedIn(fs.readFileSync(daemonLog, 'utf8')) ?? new Error(`conmand exited: ${fs.readFileSync(daemonLog, 'utf8')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (Date.now() >= deadline) throw new Error(`conmand did not answer on ${socket} within ${scaled(30_000) / 1000} s; its log: ${fs.readFileSync(daemonLog, 'utf8')}`);
  }

  async function stopDaemon(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = daemon;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await gone;
  }

  return { name, root, runRoot, base, env, daemonLog, conman, ok, startDaemon, stopDaemon, daemonPid: () => daemon?.pid };
}
