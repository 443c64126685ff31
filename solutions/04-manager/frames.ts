/**
 * One connection, several streams: after an HTTP Upgrade, conmand and conman exchange
 * frames on the raw socket. Each frame is an 8-byte header and a payload:
 *
 *   byte 0: type   0 stdin  1 stdout  2 stderr  3 exit (JSON)  4 resize (JSON)  5 end of stdin
 *                  6 error (JSON: {status, message}; the session could not begin or ended badly)
 *                  7 ready (the session began: what follows is the process's)
 *   bytes 1-3: 0
 *   bytes 4-7: payload length, big-endian
 *
 * Docker multiplexes `docker attach` and `docker exec` output with the same header (its
 * "stdcopy" format: 1 stdout, 2 stderr) but sends stdin raw, resizes as separate HTTP calls and
 * the exit code with another request. Framing both directions keeps it to one connection.
 */
import type { Duplex } from 'node:stream';
import { statusOf } from './errors.ts';
import { OutputBuffer, type OutputStream, type Session, type SessionExit } from './session.ts';

export const FRAME = { stdin: 0, stdout: 1, stderr: 2, exit: 3, resize: 4, stdinEnd: 5, error: 6, ready: 7 } as const;
const HEADER_BYTES = 8;

export function encodeFrame(type: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Cuts a byte stream back into frames, however the bytes were split into chunks. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (type: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= HEADER_BYTES) {
      const length = this.pending.readUInt32BE(4);
      if (this.pending.length < HEADER_BYTES + length) return;
      const payload = this.pending.subarray(HEADER_BYTES, HEADER_BYTES + length);
      const type = this.pending[0];
      this.pending = this.pending.subarray(HEADER_BYTES + length);
      this.onFrame(type, payload);
    }
  }
}

/** Daemon side: carry `session` over `socket` until the process ends or the client leaves. */
export function serveSession(session: Session, socket: Duplex): void {
  socket.write(encodeFrame(FRAME.ready));
  session.onOutput((stream, chunk) => socket.write(encodeFrame(stream === 'stdout' ? FRAME.stdout : FRAME.stderr, chunk)));
  const decoder = new FrameDecoder((type, payload) => {
    // Whatever a client sends (a resize to 0x0, input after the end), the daemon carries on.
    try {
      if (type === FRAME.stdin) session.write(payload);
      else if (type === FRAME.stdinEnd) session.endInput();
      else if (type === FRAME.resize) {
        const { rows, cols } = JSON.parse(payload.toString()) as { rows: number; cols: number };
        if (Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0) session.resize(rows, cols);
      }
    } catch (error) {
      console.error(`conmand: a session's ${type === FRAME.resize ? 'resize' : 'input'} failed: ${(error as Error).message}`);
    }
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('close', () => session.close()); // the client left: detach, the process goes on
  socket.on('error', () => {});
  session.exit.then(
    (exit) => socket.end(encodeFrame(FRAME.exit, JSON.stringify(exit))),
    (error: Error) => socket.end(encodeFrame(FRAME.error, JSON.stringify({ status: statusOf(error), message: error.message }))),
  );
}

/** An error frame's {status, message} as an Error carrying the status (404, 409...). */
function frameError(payload: Buffer): Error & { status: number } {
  const { status, message } = JSON.parse(payload.toString()) as { status: number; message: string };
  return Object.assign(new Error(message), { status });
}

/** Client side: a Session whose other end is conmand, on an upgraded `socket`. */
export function sessionOverSocket(socket: Duplex): Session & { ready: Promise<void> } {
  const output = new OutputBuffer();
  let isReady!: () => void;
  const ready = new Promise<void>((resolve) => (isReady = resolve));
  let settle!: { resolve: (exit: SessionExit) => void; reject: (error: Error) => void };
  const exit = new Promise<SessionExit>((resolve, reject) => (settle = { resolve, reject }));
  let settled = false;
  const decoder = new FrameDecoder((type, payload) => {
    if (type === FRAME.ready) isReady();
    else if (type === FRAME.stdout || type === FRAME.stderr) output.push(type === FRAME.stdout ? 'stdout' : 'stderr', payload);
    else if (type === FRAME.exit) (settled = true), settle.resolve(JSON.parse(payload.toString()) as SessionExit);
    else if (type === FRAME.error) (settled = true), settle.reject(frameError(payload));
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  const lost = () => {
    if (!settled) settle.reject(new Error('the connection to conmand closed before the process ended'));
  };
  socket.on('close', lost);
  socket.on('error', lost);
  return {
    // Ready, or the reason it never will be.
    ready: Promise.race([ready, exit.then(() => {})]),
    onOutput: (listener: (stream: OutputStream, chunk: Buffer) => void) => output.listen(listener),
    write: (chunk) => void socket.write(encodeFrame(FRAME.stdin, chunk)),
    endInput: () => void socket.write(encodeFrame(FRAME.stdinEnd)),
    resize: (rows, cols) => void socket.write(encodeFrame(FRAME.resize, JSON.stringify({ rows, cols }))),
    exit,
    close: () => socket.destroy(),
  };
}
