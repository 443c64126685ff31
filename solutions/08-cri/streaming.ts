/**
 * The streaming server: Exec, Attach and PortForward do not stream over gRPC. The RPC only
 * answers a URL (a one-time token on a small HTTP server of ours); the client (kubelet, on
 * behalf of `kubectl exec`, or crictl) then opens that URL and the bytes flow there. This
 * keeps long, interactive streams out of the gRPC connection kubelet shares for everything,
 * and lets the API server reach the runtime's stream through kubelet as a proxy.
 *
 * The URL speaks WebSocket with Kubernetes' channel protocol (`v5.channel.k8s.io`, or v4):
 * every binary message starts with one byte, its channel:
 *
 *   0 stdin   1 stdout   2 stderr   3 error (the end: a Status as JSON)   4 resize ({"Width","Height"})
 *   255 close (v5: "no more on channel N", e.g. the end of stdin)
 *
 * PortForward (`portforward.k8s.io` over WebSocket, `?port=80`): for the i-th port, channel 2i
 * carries data and 2i+1 errors, each starting with the port as a little-endian uint16.
 *
 * The same URLs speak SPDY/3.1 too (what kubelet and kubectl used for years, and client-go's
 * SPDY executor still does): an upgrade to `SPDY/3.1` goes to spdy-streaming.ts. Tokens last a
 * minute and serve once, as kubelet's and containerd's.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Session } from '#lower/04-manager/session.ts';
import { scaled } from '#lib/slow.ts';
import { serveSpdy, wantsSpdy } from './spdy-streaming.ts';
import { exitStatus, failureStatus, terminalSizeOf, type SessionStreams, type TerminalSize } from './stream-status.ts';

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;
const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io', 'portforward.k8s.io'];
const TOKEN_TTL_MS = 60_000;

type Pending =
  | { kind: 'session'; open: (size?: TerminalSize) => Promise<Session>; streams: SessionStreams }
  | { kind: 'portforward'; address: () => Promise<string>; ports: number[] };

/** The ports a port-forward URL names (?port=80&port=443), when the RPC named none. */
function portsOf(url: URL): number[] {
  return url.searchParams.getAll('port').map(Number).filter((port) => Number.isInteger(port) && port > 0 && port < 65536);
}

/** A resize message's size ({"Width":W,"Height":H}), or undefined if it is not one. */
function resizeOf(data: Buffer): TerminalSize | undefined {
  return data[0] === CHANNEL.resize ? terminalSizeOf(data.subarray(1).toString()) : undefined;
}

function frame(channel: number, data: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from([channel]), Buffer.isBuffer(data) ? data : Buffer.from(data)]);
}

export class StreamingServer {
  private readonly pending = new Map<string, Pending>();
  private readonly server = http.createServer((_req, res) => res.writeHead(400).end('a streaming URL is opened with a WebSocket upgrade\n'));
  private readonly sockets = new WebSocketServer({ noServer: true, handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) ?? false });
  private base = '';
  private readonly upgraded = new Set<Duplex>();

  async listen(): Promise<void> {
    this.server.on('upgrade', (request, socket, head) => {
      // Upgraded sockets are no longer the HTTP server's: kept here, so close() can end them.
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
      const url = new URL(request.url ?? '/', 'http://stream');
      const [, kind, token] = url.pathname.split('/');
      const pending = this.pending.get(token);
      this.pending.delete(token); // once
      const wanted = kind === 'portforward' ? 'portforward' : 'session';
      if (!pending || pending.kind !== wanted) {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\nno such stream (tokens serve once, within a minute of the RPC)\n');
        return;
      }
      if (wantsSpdy(request)) {
        serveSpdy(request, socket, head, pending.kind === 'session' ? pending : { kind: 'portforward', address: pending.address });
        return;
      }
      this.sockets.handleUpgrade(request, socket, head, (ws) => {
        if (pending.kind === 'session') void this.serveSession(ws, pending.open, pending.streams.tty);
        else void this.servePortForward(ws, pending.address, pending.ports.length > 0 ? pending.ports : portsOf(url));
      });
    });
    // Loopback only: the URL goes to kubelet on this node (containerd's default address too).
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A one-time URL for a stream that `open` makes when the client comes (with a terminal: its first size, if the client sent one at once). */
  urlFor(kind: 'exec' | 'attach', open: (size?: TerminalSize) => Promise<Session>, streams: Partial<SessionStreams> = {}): string {
    const asked = { stdin: streams.stdin === true, stdout: streams.stdout !== false, stderr: streams.stderr !== false, tty: streams.tty === true };
    return this.register(kind, { kind: 'session', open, streams: asked });
  }

  portForwardUrl(address: () => Promise<string>, ports: number[]): string {
    return this.register('portforward', { kind: 'portforward', address, ports });
  }

  private register(kind: string, pending: Pending): string {
    const token = randomBytes(12).toString('base64url');
    this.pending.set(token, pending);
    setTimeout(() => this.pending.delete(token), TOKEN_TTL_MS).unref();
    return `${this.base}/${kind}/${token}`;
  }

  private async serveSession(ws: WebSocket, open: (size?: TerminalSize) => Promise<Session>, tty: boolean): Promise<void> {
    const v5 = ws.protocol === 'v5.channel.k8s.io';
    // The client may type before the process runs: keep what comes until the session is there
    // (a 'message' with no listener would be lost).
    const early: Buffer[] = [];
    let sized: (size: TerminalSize) => void = () => {};
    const keep = (data: Buffer) => {
      early.push(data);
      const size = resizeOf(data);
      if (size) sized(size);
    };
    ws.on('message', keep);
    // A terminal's first size comes right after the connection (kubectl and crictl send it
    // first): wait a moment for it, so the process starts with it (runc sizes the terminal
    // before the process runs; a resize after the start races with a `stty size`).
    const size = tty
      ? await new Promise<TerminalSize | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), scaled(1000));
          sized = (first) => (clearTimeout(timer), resolve(first));
        })
      : undefined;
    sized = () => {};
    let session: Session;
    try {
      session = await open(size);
    } catch (error) {
      ws.send(frame(CHANNEL.error, JSON.stringify(failureStatus((error as Error).message))));
      ws.close();
      return;
    }
    ws.off('message', keep);
    session.onOutput((stream, chunk) => ws.send(frame(stream === 'stdout' ? CHANNEL.stdout : CHANNEL.stderr, chunk)));
    const onMessage = (data: Buffer) => {
      const channel = data[0];
      const payload = data.subarray(1);
      if (channel === CHANNEL.stdin) session.write(payload);
      else if (channel === CHANNEL.resize) {
        const resized = resizeOf(data);
        if (resized) session.resize(resized.rows, resized.cols);
      } else if (v5 && channel === CHANNEL.close && payload[0] === CHANNEL.stdin) session.endInput();
    };
    for (const data of early) onMessage(data);
    ws.on('message', onMessage);
    ws.on('close', () => session.close());
    try {
      const exit = await session.exit;
      ws.send(frame(CHANNEL.error, JSON.stringify(exitStatus(exit.exitCode))));
    } catch (error) {
      ws.send(frame(CHANNEL.error, JSON.stringify(failureStatus((error as Error).message))));
    }
    ws.close();
  }

  private async servePortForward(ws: WebSocket, address: () => Promise<string>, ports: number[]): Promise<void> {
    if (ports.length === 0) {
      ws.close(1008, 'no port to forward: name them in the PortForward request, or on the URL (?port=80)');
      return;
    }
    const early: Buffer[] = [];
    const keep = (data: Buffer) => early.push(data);
    ws.on('message', keep);
    const host = await address().catch(() => undefined);
    ws.off('message', keep);
    const connections = ports.map((port, i) => {
      const portBytes = Buffer.alloc(2);
      portBytes.writeUInt16LE(port);
      ws.send(frame(2 * i, portBytes));
      ws.send(frame(2 * i + 1, portBytes));
      if (!host) {
        ws.send(frame(2 * i + 1, `the pod has no address to forward port ${port} to`));
        return undefined;
      }
      // The pod's address on its bridge, from the host (containerd enters the pod's netns instead).
      const connection = net.connect(port, host);
      connection.on('data', (chunk: Buffer) => ws.send(frame(2 * i, chunk)));
      connection.on('error', (error) => ws.send(frame(2 * i + 1, `port ${port}: ${error.message}`)));
      connection.on('close', () => ws.close());
      return connection;
    });
    const onMessage = (data: Buffer) => {
      const channel = data[0];
      if (channel % 2 === 0) connections[channel / 2]?.write(data.subarray(1));
    };
    for (const data of early) onMessage(data);
    ws.on('message', onMessage);
    ws.on('close', () => connections.forEach((connection) => connection?.destroy()));
  }

  async close(): Promise<void> {
    for (const client of this.sockets.clients) client.terminate();
    for (const socket of this.upgraded) socket.destroy(); // (SPDY sessions, and anything half-open)
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
