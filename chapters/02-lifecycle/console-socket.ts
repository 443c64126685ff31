/**
 * Receiving a container's terminal.
 *
 * With `process.terminal: true`, the runtime makes a pseudo-terminal inside the container:
 * the container's process gets the *slave* side as its stdin/stdout/stderr, and the *master*
 * side (the "keyboard and screen" end) must go to whoever drives the container. runc cannot
 * print a file descriptor, so it connects to a unix socket we name with `--console-socket`
 * and sends the master as an SCM_RIGHTS control message: the kernel copies the open file
 * into our process, where it arrives as a new fd number.
 *
 * Node's `net` module cannot receive descriptors (it drops control messages), so we use
 * `usocket`, a small, maintained native addon whose sockets return `{ data, fds }`.
 */
import fs from 'node:fs';
import usocket from 'usocket';
import { scaled } from '#lib/slow.ts';
import { notImplemented } from '#lib/not-implemented.ts';

/**
 * usocket frees a socket's native part when the garbage collector takes its JavaScript object,
 * and its close() drops that object at once, while libuv is still closing the handle (a close
 * completes on the event loop's next turn): a collection in between makes libuv read freed
 * memory, and the process aborts with "uv__finish_close: Assertion ... failed". So every
 * native part is kept referenced here until its close has surely completed (two loop turns).
 */
const nativeParts = new Set<unknown>();
function keepNative(part: unknown): () => void {
  nativeParts.add(part);
  return () => setImmediate(() => setImmediate(() => nativeParts.delete(part)));
}
type WithNative = { _wrap?: unknown };

export class ConsoleSocket {
  private readonly server = new usocket.UServer();
  private received: Promise<number>;
  private releaseServer = () => {};
  /** Connections not closed yet (one that sent no terminal stays open): close() ends them. */
  private readonly open = new Map<InstanceType<typeof usocket.USocket>, () => void>();

  private constructor(readonly path: string) {
    this.received = new Promise<number>((resolve, reject) => {
      this.server.on('error', reject);
      this.server.on('connection', (connection: InstanceType<typeof usocket.USocket>) => {
        const release = keepNative((connection as unknown as WithNative)._wrap);
        this.open.set(connection, release);
        connection.once('close', () => (this.open.delete(connection), release()));
        try {
          this.onConnection(connection, resolve, reject);
        } catch (error) {
          reject(error as Error); // surfaces in receiveMaster(), not as a crash of the process
        }
      });
    });
    this.received.catch(() => {}); // a rejection is reported by receiveMaster(); never unhandled
  }

  /** Listen on `path` (removing a stale socket file first). */
  static async listen(path: string): Promise<ConsoleSocket> {
    fs.rmSync(path, { force: true });
    if (Buffer.byteLength(path) > 107) throw new Error(`console socket path too long for a unix socket (over 107 bytes): ${path}`);
    const socket = new ConsoleSocket(path);
    await new Promise<void>((resolve, reject) => {
      socket.server.once('error', reject);
      socket.server.listen(path, () => {
        socket.server.off('error', reject);
        resolve();
      });
      socket.releaseServer = keepNative((socket.server as unknown as WithNative)._wrap);
    });
    return socket;
  }

  /**
   * Handle runc's connection: read the message that carries the descriptor and resolve with
   * the received fd (the PTY master). Reject if the peer closes without sending one.
   */
  private onConnection(connection: InstanceType<typeof usocket.USocket>, resolve: (fd: number) => void, reject: (error: Error) => void): void {
    // EXERCISE(console-socket): read runc's message on the connection and resolve with the PTY master it carries
    // Hints: usocket emits 'readable'; connection.read(0, 1) returns { data, fds } (null
    // while nothing has arrived). runc sends the terminal's name as data with one fd; keep
    // fds[0] and close the connection. If it 'end's first, reject with a clear Error: a
    // stream emits 'end' only after a read found nothing left, so when read(0, 1) returns
    // null, read() once more.
    throw notImplemented("02-lifecycle/console-socket", "read runc's message on the connection and resolve with the PTY master it carries");
    // END EXERCISE
  }

  /** The PTY master's fd, once the runtime has sent it (during `create`). */
  async receiveMaster(timeoutMs = scaled(10_000)): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no terminal arrived on ${this.path} within ${timeoutMs} ms: is process.terminal true in config.json?`)), timeoutMs);
    });
    try {
      return await Promise.race([this.received, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.server.close();
    this.releaseServer();
    for (const [connection, release] of this.open) connection.destroy(), release();
    this.open.clear();
    fs.rmSync(this.path, { force: true });
  }
}
