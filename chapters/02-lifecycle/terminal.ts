/**
 * Driving a container's terminal through its PTY master: what you type goes in with write(),
 * what the container prints (and the terminal's echo of what you typed) comes out of
 * `output`. When the last process holding the slave side exits, reading the master fails
 * with EIO (or, at times, simply ends): for a terminal, that is the normal end of the stream.
 */
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import tty from 'node:tty';
import { scaled } from '#lib/slow.ts';

export class Terminal extends EventEmitter {
  private readonly input: tty.ReadStream;
  private text = '';
  /** Settles when the terminal's last user has gone (even if that happened before you asked). */
  readonly ended: Promise<void>;

  constructor(readonly masterFd: number) {
    super();
    this.ended = new Promise((resolve) => this.once('end', resolve));
    // tty.ReadStream reads a terminal fd without blocking libuv's thread pool.
    this.input = new tty.ReadStream(masterFd);
    this.input.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('utf8');
      this.emit('data', chunk);
    });
    // The end of a terminal shows up as EIO (usually) or as a plain end of file (when the
    // last writer closed before our read): both mean "nobody is left on the other side".
    let ended = false;
    const end = () => {
      if (!ended) (ended = true), this.emit('end');
    };
    this.input.on('end', end);
    this.input.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EIO') end();
      else this.emit('error', error);
    });
  }

  /** Everything read so far. */
  get output(): string {
    return this.text;
  }

  write(text: string): void {
    fs.writeSync(this.masterFd, text);
  }

  /** Wait until the output contains `pattern` (typing is asynchronous: the echo comes later). */
  waitFor(pattern: string | RegExp, timeoutMs = scaled(5000)): Promise<string> {
    const matches = () => (typeof pattern === 'string' ? this.text.includes(pattern) : pattern.test(this.text));
    if (matches()) return Promise.resolve(this.text);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('data', check);
        reject(new Error(`the terminal did not show ${pattern} within ${timeoutMs} ms; it shows:\n${this.text}`));
      }, timeoutMs);
      const check = () => {
        if (!matches()) return;
        clearTimeout(timer);
        this.off('data', check);
        resolve(this.text);
      };
      this.on('data', check);
    });
  }

  /** Stop reading: once the terminal's buffer is full, the processes writing to it wait. */
  pause(): void {
    this.input.pause();
  }

  resume(): void {
    this.input.resume();
  }

  close(): void {
    this.input.destroy(); // closes the master fd too
  }
}
