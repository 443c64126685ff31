/**
 * `conman exec`: another process in a running container. The container's shim runs it
 * (chapter 03's exec-process.ts: `runc exec --detach`, reaped by the shim, its exit in
 * execs/ID/exit.json), so an exec outlives the manager as the container does: kill -9
 * conmand, start it again, and `conman exec --attach ID` finds the process with the output it
 * printed meanwhile. containerd asks the shim the same way (Exec, then Start, with an exec id);
 * cri-o starts a conmon per exec.
 *
 * The manager only relays: this file turns the shim's attach stream of an exec into a
 * Session. With a terminal the stream is raw bytes; without one, each chunk comes in a
 * Docker `stdcopy` frame (8 bytes: stream 1 or 2, three zeros, a big-endian length), so that
 * stdout and stderr stay apart.
 */
import type net from 'node:net';
import type { ShimClient } from '#lower/03-shim/client.ts';
import { OutputBuffer, type OutputStream, type Session, type SessionExit } from './session.ts';

/** Split a stdcopy stream into its chunks, whatever the TCP-like cuts of the data. */
export function stdcopyReader(onChunk: (stream: OutputStream, chunk: Buffer) => void): (data: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (data) => {
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      onChunk(pending[0] === 2 ? 'stderr' : 'stdout', pending.subarray(8, 8 + size));
      pending = pending.subarray(8 + size);
    }
  };
}

/** A Session on an exec process the shim runs (just started, or found again after a restart). */
export async function execSession(exec: ShimClient, options: { tty: boolean }): Promise<Session> {
  const stream: net.Socket = await exec.attach();
  const output = new OutputBuffer();
  const ended = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  stream.on('data', options.tty ? (chunk: Buffer) => output.push('stdout', chunk) : stdcopyReader((name, chunk) => output.push(name, chunk)));
  stream.on('error', () => {});
  stream.resume();
  let over = false;
  const exit = (async (): Promise<SessionExit> => {
    const status = await exec.wait();
    // The shim ends the stream after the last output: wait for it (bounded: it may be gone).
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2000))]);
    over = true;
    return { exitCode: status.exitCode, ...(status.signal ? { signal: status.signal } : {}) };
  })();
  exit.catch(() => {});
  const endInput = () => {
    if (!over) void exec.closeStdin().catch(() => {});
  };
  return {
    ...(exec.execId ? { execId: exec.execId } : {}),
    onOutput: (listener) => output.listen(listener),
    write: (chunk) => {
      if (!over) stream.write(chunk);
    },
    endInput,
    resize: (rows, cols) => {
      if (options.tty && !over) void exec.resize(rows, cols).catch(() => {});
    },
    exit,
    // The client left: end the input, as a closed terminal or pipe would (an exec of `cat`
    // ends; one that ignores its input runs on, as after `docker exec -d`). A manager that
    // dies never gets here: the process goes on, and its input with it.
    close: () => {
      endInput();
      stream.destroy();
    },
  };
}
