/**
 * The container's stdio, without a terminal: named pipes (FIFOs) in the shim's folder.
 *
 * Why not what Node offers? `stdio: 'pipe'` gives a child a *socketpair*, not a pipe, and
 * programs that reopen their output (`echo hi > /dev/stdout`, which opens /proc/self/fd/1)
 * fail on a socket. A FIFO behaves like a pipe everywhere. The shim opens the reading ends
 * (non-blocking, so the open does not wait for a writer) and hands the writing ends to the
 * runtime as the container's stdout and stderr; then it closes its own copies, so that the
 * read side ends when the container's last writer goes. conmon uses pipe(2) for the same.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { mkfifo } from './syscalls.ts';

export interface ContainerStdio {
  /** Descriptors for the runtime's create: the container's stdin, stdout, stderr. */
  forContainer: { stdin: number | 'ignore'; stdout: number; stderr: number };
  stdout: net.Socket;
  stderr: net.Socket;
  /** Write here to type into the container's stdin (when it has one). */
  stdinWriter?: number;
  /** Close the shim's copies of the container's ends, once the runtime has them. */
  closeContainerEnds(): void;
}

function fifo(dir: string, name: string): string {
  const file = path.join(dir, name);
  fs.rmSync(file, { force: true });
  mkfifo(file, 0o600);
  return file;
}

export function openContainerStdio(dir: string, options: { stdin: boolean }): ContainerStdio {
  const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
  const outPath = fifo(dir, 'stdout.fifo');
  const errPath = fifo(dir, 'stderr.fifo');
  // Open the readers first: opening a FIFO's writer blocks (or fails) until a reader exists.
  const stdout = new net.Socket({ fd: fs.openSync(outPath, O_RDONLY | O_NONBLOCK), readable: true, writable: false });
  const stderr = new net.Socket({ fd: fs.openSync(errPath, O_RDONLY | O_NONBLOCK), readable: true, writable: false });
  const outWriter = fs.openSync(outPath, O_WRONLY);
  const errWriter = fs.openSync(errPath, O_WRONLY);

  let stdinReader: number | 'ignore' = 'ignore';
  let stdinWriter: number | undefined;
  if (options.stdin) {
    const inPath = fifo(dir, 'stdin.fifo');
    // The container's end must block like any stdin: O_NONBLOCK would be shared with it.
    // Opening our end read-write first (which never waits on Linux) lets the container's
    // plain O_RDONLY open return at once.
    stdinWriter = fs.openSync(inPath, fs.constants.O_RDWR);
    stdinReader = fs.openSync(inPath, O_RDONLY);
  }
  return {
    forContainer: { stdin: stdinReader, stdout: outWriter, stderr: errWriter },
    stdout,
    stderr,
    stdinWriter,
    closeContainerEnds() {
      for (const fd of [outWriter, errWriter, stdinReader]) if (typeof fd === 'number') fs.closeSync(fd);
    },
  };
}
