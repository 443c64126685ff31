/**
 * `conman exec`: another process in a running container, with the runtime's `exec`.
 *
 * The manager runs `runc exec` itself and is that process's parent: if the manager dies, an
 * exec in progress dies with it (the container does not). containerd instead asks the
 * container's shim to run the exec, so execs survive a containerd restart; cri-o starts a
 * conmon per exec. Without a TTY, the output comes back on pipes; with one, runc sends the
 * PTY master through a console socket, as for the container itself (chapter 02).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readRuntimeErrors } from '#lower/01-bundle/run.ts';
import { ConsoleSocket } from '#lower/02-lifecycle/console-socket.ts';
import type { RuntimeName } from '#lower/02-lifecycle/runtime.ts';
import { Terminal } from '#lower/02-lifecycle/terminal.ts';
import { setWindowSize } from '#lower/03-shim/syscalls.ts';
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

export async function startExec(target: ExecTarget, request: ExecRequest): Promise<Session> {
  fs.mkdirSync(target.workDir, { recursive: true, mode: 0o700 });
  const logFile = path.join(target.workDir, 'runtime.log');
  const args = ['--root', target.stateRoot, '--log', logFile, '--log-format', 'json', 'exec'];
  for (const [key, value] of Object.entries(request.env ?? {})) args.push('--env', `${key}=${value}`);
  if (request.cwd) args.push('--cwd', request.cwd);
  const consoleSocket = request.tty ? await ConsoleSocket.listen(path.join(target.workDir, 'console.sock')) : undefined;
  if (consoleSocket) args.push('--tty', '--console-socket', consoleSocket.path);
  args.push(target.id, ...request.args);

  const child = spawn(target.runtime, args, { stdio: [request.stdin && !request.tty ? 'pipe' : 'ignore', request.tty ? 'ignore' : 'pipe', request.tty ? 'ignore' : 'pipe'] });
  const output = new OutputBuffer();
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`cannot run ${target.runtime}: ${error.message}`)));
    // runc exec passes the process's own exit code on (128 + N for a signal).
    child.once('exit', (code) => resolve(code ?? 128));
  });
  let terminal: Terminal | undefined;
  let outputEnded: Promise<unknown>;
  if (consoleSocket) {
    // The master arrives once runc made the PTY; if runc fails first, it never does.
    const master = await Promise.race([consoleSocket.receiveMaster(), exited.then(() => undefined)]).finally(() => consoleSocket.close());
    if (master === undefined) {
      const errors = await readRuntimeErrors(logFile);
      fs.rmSync(target.workDir, { recursive: true, force: true });
      throw new Error(`${target.runtime} exec: ${errors.join('; ') || 'failed before the terminal was ready'}`);
    }
    terminal = new Terminal(master);
    terminal.on('data', (chunk: Buffer) => output.push('stdout', chunk));
    terminal.on('error', () => {});
    outputEnded = terminal.ended;
  } else {
    child.stdout!.on('data', (chunk: Buffer) => output.push('stdout', chunk));
    child.stderr!.on('data', (chunk: Buffer) => output.push('stderr', chunk));
    outputEnded = Promise.all([new Promise((r) => child.stdout!.once('close', r)), new Promise((r) => child.stderr!.once('close', r))]);
  }

  const exit = (async (): Promise<SessionExit> => {
    const code = await exited;
    await Promise.race([outputEnded, new Promise((resolve) => setTimeout(resolve, 2000))]);
    terminal?.close();
    const errors = await readRuntimeErrors(logFile);
    fs.rmSync(target.workDir, { recursive: true, force: true });
    // runc says why it could not start the process (a missing command...) in its log.
    if (errors.length > 0) throw new Error(`${target.runtime} exec: ${errors.join('; ')}`);
    return { exitCode: code };
  })();
  exit.catch(() => {});

  return {
    onOutput: (listener) => output.listen(listener),
    write: (chunk) => {
      if (terminal) terminal.write(chunk.toString('utf8'));
      else child.stdin?.write(chunk);
    },
    endInput: () => {
      if (terminal) terminal.write('\x04'); // Ctrl-D: end of input for a terminal's reader
      else child.stdin?.end();
    },
    resize: (rows, cols) => {
      if (terminal) setWindowSize(terminal.masterFd, rows, cols);
    },
    exit,
    close: () => {},
  };
}
