/**
 * `conman exec`: another process in a running container, with the runtime's `exec`.
 *
 * Without a TTY, the manager runs `runc exec` in the foreground: the output comes back on
 * pipes and runc's exit code is the process's. With a TTY, runc sends the PTY master through
 * a console socket, as for the container itself (chapter 02), but runc accepts a console
 * socket only with --detach: runc exits at once and the process is orphaned. So the manager
 * makes itself a child subreaper, as the shim does (chapter 03's Reaper): the orphan becomes
 * its child, and its exit status comes to the manager.
 *
 * Either way an exec in progress dies with the manager (the container does not). containerd
 * asks the container's shim to run an exec, so execs survive a containerd restart; cri-o
 * starts a conmon per exec.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readRuntimeErrors } from '#lower/01-bundle/run.ts';
import { ConsoleSocket } from '#lower/02-lifecycle/console-socket.ts';
import type { RuntimeName } from '#lower/02-lifecycle/runtime.ts';
import { Terminal } from '#lower/02-lifecycle/terminal.ts';
import { Reaper } from '#lower/03-shim/reaper.ts';
import { setWindowSize } from '#lower/03-shim/syscalls.ts';
import type { DecodedStatus } from '#lower/03-shim/wait-status.ts';
import { cannotRun } from './errors.ts';
import type { ExecRequest } from './requests.ts';
import { OutputBuffer, type Session, type SessionExit } from './session.ts';

export interface ExecTarget {
  /** The runtime's container id. */
  id: string;
  runtime: RuntimeName;
  stateRoot: string;
  /** A fresh, short folder for the console socket and the runtime's log. */
  workDir: string;
}

/**
 * The manager as a subreaper: Manager.open() calls adoptOrphans() before it starts anything,
 * so that the Reaper knows every process Node itself starts (it must leave those to libuv).
 * Every status it reaps is kept (by PID) until claimed: a quick process may be reaped before
 * we have read its PID file.
 */
let reaper: Reaper | undefined;
const reaped = new Map<number, DecodedStatus>();
const claims = new Map<number, (status: DecodedStatus) => void>();

function exitOfOrphan(pid: number): Promise<DecodedStatus> {
  return new Promise((resolve) => {
    const status = reaped.get(pid);
    if (status) return reaped.delete(pid), resolve(status);
    claims.set(pid, resolve);
    reaper!.reapZombies();
  });
}

/** runc could not run the process: a command not in the image is the request's fault (a 400). */
function runtimeFailure(target: ExecTarget, errors: string): Error {
  return cannotRun(errors) ?? new Error(`${target.runtime} exec: ${errors}`);
}

export function adoptOrphans(): void {
  if (reaper) return;
  reaper = new Reaper();
  reaper.on('exit', (pid: number, status: DecodedStatus) => {
    const claim = claims.get(pid);
    if (claim) return claims.delete(pid), claim(status);
    // Not claimed (yet): keep it a minute for an exec that has not read its PID file yet.
    reaped.set(pid, status);
    setTimeout(() => reaped.delete(pid), 60_000).unref();
  });
  reaper.start();
}

export async function startExec(target: ExecTarget, request: ExecRequest): Promise<Session> {
  fs.mkdirSync(target.workDir, { recursive: true, mode: 0o700 });
  const logFile = path.join(target.workDir, 'runtime.log');
  const args = ['--root', target.stateRoot, '--log', logFile, '--log-format', 'json', 'exec'];
  for (const [key, value] of Object.entries(request.env ?? {})) args.push('--env', `${key}=${value}`);
  if (request.cwd) args.push('--cwd', request.cwd);
  const consoleSocket = request.tty ? await ConsoleSocket.listen(path.join(target.workDir, 'console.sock')) : undefined;
  const pidFile = path.join(target.workDir, 'exec.pid');
  if (consoleSocket) {
    adoptOrphans(); // (Manager.open did it already; before runc runs, its orphan must come to us)
    args.push('--tty', '--console-socket', consoleSocket.path, '--detach', '--pid-file', pidFile);
  }
  args.push(target.id, ...request.args);

  const child = spawn(target.runtime, args, { stdio: [request.stdin && !request.tty ? 'pipe' : 'ignore', request.tty ? 'ignore' : 'pipe', request.tty ? 'ignore' : 'pipe'] });
  // A client may go on sending input after the process ended (EPIPE): not a reason to die.
  child.stdin?.on('error', () => {});
  const output = new OutputBuffer();
  let exited = new Promise<number>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`cannot run ${target.runtime}: ${error.message}`)));
    // runc exec passes the process's own exit code on (128 + N for a signal).
    child.once('exit', (code) => resolve(code ?? 128));
  });
  let terminal: Terminal | undefined;
  let outputEnded: Promise<unknown>;
  if (consoleSocket) {
    // The master arrives once runc made the PTY; if runc fails first, it never does.
    // (runc --detach exits right after sending it: after a clean exit, the master is on its way.)
    const master = await Promise.race([
      consoleSocket.receiveMaster(),
      exited.then((code) => (code === 0 ? consoleSocket.receiveMaster() : undefined)),
    ]).finally(() => consoleSocket.close());
    if (master === undefined) {
      const errors = await readRuntimeErrors(logFile);
      fs.rmSync(target.workDir, { recursive: true, force: true });
      throw runtimeFailure(target, errors.join('; ') || 'failed before the terminal was ready');
    }
    terminal = new Terminal(master);
    terminal.on('data', (chunk: Buffer) => output.push('stdout', chunk));
    terminal.on('error', () => {});
    outputEnded = terminal.ended;
    // runc has detached (it exits 0 once the process runs): the process's own end is the exit.
    const runcCode = await exited;
    if (runcCode !== 0) {
      terminal.close();
      const errors = await readRuntimeErrors(logFile);
      fs.rmSync(target.workDir, { recursive: true, force: true });
      throw runtimeFailure(target, errors.join('; ') || `exit code ${runcCode}`);
    }
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    exited = exitOfOrphan(pid).then((status) => status.exitCode);
  } else {
    child.stdout!.on('data', (chunk: Buffer) => output.push('stdout', chunk));
    child.stderr!.on('data', (chunk: Buffer) => output.push('stderr', chunk));
    outputEnded = Promise.all([new Promise((r) => child.stdout!.once('close', r)), new Promise((r) => child.stderr!.once('close', r))]);
  }

  // Input and resizes may still arrive after the process ended and its terminal closed.
  let over = false;
  const exit = (async (): Promise<SessionExit> => {
    const code = await exited;
    await Promise.race([outputEnded, new Promise((resolve) => setTimeout(resolve, 2000))]);
    over = true;
    terminal?.close();
    const errors = await readRuntimeErrors(logFile);
    fs.rmSync(target.workDir, { recursive: true, force: true });
    // runc says why it could not start the process (a missing command...) in its log.
    if (errors.length > 0) throw runtimeFailure(target, errors.join('; '));
    return { exitCode: code };
  })();
  exit.catch(() => {});

  return {
    onOutput: (listener) => output.listen(listener),
    write: (chunk) => {
      if (over) return;
      if (terminal) terminal.write(chunk.toString('utf8'));
      else child.stdin?.write(chunk);
    },
    endInput: () => {
      if (over) return;
      if (terminal) terminal.write('\x04'); // Ctrl-D: end of input for a terminal's reader
      else child.stdin?.end();
    },
    resize: (rows, cols) => {
      if (terminal && !over) setWindowSize(terminal.masterFd, rows, cols);
    },
    exit,
    // The client left: end the input, as a closed terminal or pipe would (an exec of `cat`
    // ends; one that ignores its input runs on, as after `docker exec -d`).
    close: () => {
      if (over) return;
      if (terminal) terminal.write('\x04');
      else child.stdin?.end();
    },
  };
}
