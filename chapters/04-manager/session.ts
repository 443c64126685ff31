/**
 * A session: a process's stdio, at a distance. `attach` gives one for a container's main
 * process, `exec` for a new process in it. The CLI uses a session the same way whether it
 * comes from the library in its own process (--no-daemon) or from conmand over the socket
 * (frames.ts carries it).
 */
import { EventEmitter } from 'node:events';

export type OutputStream = 'stdout' | 'stderr';

export interface SessionExit {
  exitCode: number;
  signal?: string;
}

export interface Session {
  /** An exec's id: `conman exec --attach ID` finds the process again (it outlives conmand). */
  readonly execId?: string;
  /** Receive the output; what came before the first listener was kept for it. */
  onOutput(listener: (stream: OutputStream, chunk: Buffer) => void): void;
  write(chunk: Buffer): void;
  /** No more input (the process reads end of file). */
  endInput(): void;
  /** The terminal's size changed (a session with a TTY only; ignored otherwise). */
  resize(rows: number, cols: number): void;
  /** Settles once the output is over: with the exit status, or rejects when it is unknown. */
  readonly exit: Promise<SessionExit>;
  /** Leave the session; the process goes on (attach), or is not our concern any more. */
  close(): void;
}

/** Output buffered until someone listens, so the first bytes are never lost. */
export class OutputBuffer extends EventEmitter {
  private held: [OutputStream, Buffer][] | undefined = [];

  push(stream: OutputStream, chunk: Buffer): void {
    if (this.held) this.held.push([stream, chunk]);
    else this.emit('output', stream, chunk);
  }

  listen(listener: (stream: OutputStream, chunk: Buffer) => void): void {
    this.on('output', listener);
    const held = this.held ?? [];
    this.held = undefined;
    for (const [stream, chunk] of held) listener(stream, chunk);
  }
}
