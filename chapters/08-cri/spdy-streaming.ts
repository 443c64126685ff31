/**
 * The streaming server's URLs, spoken in SPDY (spdy.ts) rather than WebSocket: what kubelet's
 * own streaming server does for clients that upgrade with `Upgrade: SPDY/3.1` (critest and
 * crictl by default, kubectl before 1.30, client-go's SPDY executor).
 *
 * The handshake: the client lists the stream protocols it speaks in X-Stream-Protocol-Version
 * headers; we answer 101 Switching Protocols naming the one we pick, and the connection is
 * SPDY from then on.
 *
 * exec and attach (`v4.channel.k8s.io`; v5 behaves as v4 over SPDY): the client opens one
 * stream per channel, its kind in the `streamType` header: `error` always, `stdin`, `stdout`,
 * `stderr` as the request asked (no stderr with a terminal: it is merged), `resize` with a
 * terminal. We wait until they are all there, then start the process; its output goes down
 * stdout and stderr, stdin's FIN is the end of input, each JSON object on resize is a new
 * size, and at the end the error stream carries the Status (the exit code), and everything
 * is closed.
 *
 * port-forward (`portforward.k8s.io`): per forwarded TCP connection, the client opens a pair
 * of streams with the same `requestID` and `port` headers: `error` (what went wrong, as text)
 * and `data` (the bytes both ways). The port is in the streams, so the RPC needs none.
 */
import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Session } from '#lower/04-manager/session.ts';
import { scaled } from '#lib/slow.ts';
import { SpdyConnection, type SpdyStream } from './spdy.ts';
import { exitStatus, failureStatus, terminalSizeOf, type SessionStreams, type TerminalSize } from './stream-status.ts';

export type SpdyPending =
  | { kind: 'session'; open: (size?: TerminalSize) => Promise<Session>; streams: SessionStreams }
  | { kind: 'portforward'; address: () => Promise<string> };

const SESSION_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
/** kubelet's streamCreationTimeout: the client has this long to open the streams it needs. */
const STREAM_CREATION_MS = 30_000;

/** Is this an upgrade to SPDY (else it is WebSocket's)? */
export function wantsSpdy(request: http.IncomingMessage): boolean {
  return /^spdy\/3\.1$/i.test(String(request.headers.upgrade ?? '').trim());
}

/** Answer the upgrade, then serve the pending stream over SPDY. */
export function serveSpdy(request: http.IncomingMessage, socket: Duplex, head: Buffer, pending: SpdyPending): void {
  const offered = String(request.headers['x-stream-protocol-version'] ?? '').split(',').map((p) => p.trim());
  const supported = pending.kind === 'session' ? SESSION_PROTOCOLS : [PORT_FORWARD_PROTOCOL];
  const protocol = offered.find((p) => supported.includes(p));
  if (!protocol) {
    socket.end(`HTTP/1.1 403 Forbidden\r\n\r\nno stream protocol in common: offered ${offered.join(', ') || 'none'}; this server speaks ${supported.join(', ')}\n`);
    return;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
  if (head.length > 0) socket.unshift(head);
  const connection = new SpdyConnection(socket as net.Socket);
  if (pending.kind === 'session') void serveSession(connection, pending.open, pending.streams);
  else servePortForward(connection, pending.address);
}

/** The streams a session's client must open, by their streamType. */
function wantedStreams(streams: SessionStreams): string[] {
  return ['error', ...(streams.stdin ? ['stdin'] : []), ...(streams.stdout ? ['stdout'] : []), ...(streams.stderr && !streams.tty ? ['stderr'] : []), ...(streams.tty ? ['resize'] : [])];
}

async function serveSession(connection: SpdyConnection, open: (size?: TerminalSize) => Promise<Session>, asked: SessionStreams): Promise<void> {
  const wanted = wantedStreams(asked);
  const streams = new Map<string, SpdyStream>();
  // The resize stream's first size may come before the process starts: kept for open().
  let firstSize: ((size: TerminalSize) => void) | undefined;
  const sizes: TerminalSize[] = [];
  let onSize = (size: TerminalSize) => (sizes.push(size), firstSize?.(size));
  const all = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), scaled(STREAM_CREATION_MS));
    connection.on('close', () => (clearTimeout(timer), resolve(false)));
    connection.on('stream', (stream) => {
      const type = stream.headers.streamtype;
      if (!wanted.includes(type) || streams.has(type)) return connection.reset(stream);
      streams.set(type, stream);
      if (type === 'resize') readSizes(stream, (size) => onSize(size));
      if (streams.size === wanted.length) (clearTimeout(timer), resolve(true));
    });
  });
  if (!(await all)) {
    connection.close(); // (the client gave up, or never opened what it asked for)
    return;
  }
  const error = streams.get('error')!;
  const size = !asked.tty
    ? undefined
    : sizes[0] ??
      (await new Promise<TerminalSize | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), scaled(1000));
        firstSize = (first) => (clearTimeout(timer), resolve(first));
      }));
  let session: Session;
  try {
    session = await open(size);
  } catch (failure) {
    error.write(JSON.stringify(failureStatus((failure as Error).message)));
    return await finish(connection, streams);
  }
  onSize = (next) => session.resize(next.rows, next.cols);
  session.onOutput((name, chunk) => streams.get(asked.tty ? 'stdout' : name)?.write(chunk));
  const stdin = streams.get('stdin');
  stdin?.on('data', (chunk: Buffer) => session.write(chunk));
  stdin?.on('end', () => session.endInput());
  connection.on('close', () => session.close());
  try {
    const exit = await session.exit;
    error.write(JSON.stringify(exitStatus(exit.exitCode)));
  } catch (failure) {
    error.write(JSON.stringify(failureStatus((failure as Error).message)));
  }
  await finish(connection, streams);
}

/** Our side of every stream ends (FIN, once what was written is out), then the connection. */
async function finish(connection: SpdyConnection, streams: Map<string, SpdyStream>): Promise<void> {
  const ended = (stream: SpdyStream) =>
    new Promise<void>((resolve) => {
      if (stream.writableFinished || stream.destroyed) return resolve();
      stream.once('finish', resolve);
      stream.once('close', resolve);
      stream.end();
    });
  await Promise.all([...streams.values()].map(ended));
  connection.close();
}

/** A resize stream carries JSON objects one after another (Go's json.Encoder: one per line). */
function readSizes(stream: SpdyStream, onSize: (size: TerminalSize) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const size = terminalSizeOf(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      if (size) onSize(size);
    }
  });
}

function servePortForward(connection: SpdyConnection, address: () => Promise<string>): void {
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
  connection.on('stream', (stream) => {
    const { port, requestid: requestId = '' } = stream.headers;
    const type = stream.headers.streamtype as 'error' | 'data';
    const number = Number(port);
    if ((type !== 'error' && type !== 'data') || !Number.isInteger(number) || number < 1 || number > 65535) return connection.reset(stream);
    const pair = pairs.get(requestId) ?? {};
    if (pair[type]) return connection.reset(stream);
    pair[type] = stream;
    pairs.set(requestId, pair);
    if (pair.error && pair.data) {
      pairs.delete(requestId);
      void forward(number, pair.error, pair.data, address);
    }
  });
}

/** One forwarded connection: the pod's port, from the host, through its address on the bridge. */
async function forward(port: number, error: SpdyStream, data: SpdyStream, address: () => Promise<string>): Promise<void> {
  const host = await address().catch((failure: Error) => {
    error.write(`the pod has no address to forward port ${port} to: ${failure.message}`);
    return undefined;
  });
  if (!host) {
    error.end();
    data.end();
    return;
  }
  const socket = net.connect(port, host);
  socket.on('data', (chunk: Buffer) => data.write(chunk));
  socket.on('end', () => data.end());
  socket.on('error', (failure) => (error.write(`port ${port}: ${failure.message}`), error.end(), data.end()));
  socket.on('close', () => error.end());
  data.on('data', (chunk: Buffer) => socket.write(chunk));
  data.on('end', () => socket.end());
}
