/**
 * SPDY/3.1, the part a Kubernetes streaming server speaks. Before WebSocket, kubelet and
 * `kubectl exec/attach/port-forward` carried their streams over SPDY (Google's precursor of
 * HTTP/2), and many clients still do: critest, crictl, kubectl before 1.30, and the API
 * server's proxy to kubelet. One TCP connection, upgraded from HTTP/1.1 (`Upgrade: SPDY/3.1`),
 * carries many *streams*; the client opens one per channel (stdin, stdout, stderr, error,
 * resize) instead of tagging each message with a channel byte, as WebSocket does.
 *
 * Every frame starts with 8 bytes:
 *
 *   control: 1 | version (15) | type (16)     flags (8) | length (24) | ...
 *   data:    0 | stream id (31)               flags (8) | length (24) | payload
 *
 * Control frames used here: SYN_STREAM (1: the client opens a stream; its headers say what
 * it is for), SYN_REPLY (2: we accept it), RST_STREAM (3), SETTINGS (4, ignored), PING (6,
 * echoed), GOAWAY (7: the end), WINDOW_UPDATE (9). FLAG_FIN (1) on a data frame or a SYN
 * ends that side of the stream: for stdin, "no more input".
 *
 * Header blocks are zlib streams, one per direction for the whole connection, compressed with
 * the dictionary the SPDY/3 spec gives (below). We read the client's by inflating everything
 * received so far (small: a few streams per connection) and keeping the new part. We write
 * ours as zlib *stored* blocks, uncompressed: the spec asks for a zlib stream, and a stored
 * block is one; it spares a compressor whose state must live as long as the connection.
 *
 * Flow control (3.1's windows): we tell the client how much we consumed (WINDOW_UPDATE) and
 * do not wait for windows ourselves. Go's spdystream, which kubelet and kubectl use, neither
 * sends nor honours WINDOW_UPDATE, so a sender that waited would wait forever.
 *
 * Real implementations: Go's moby/spdystream (kubelet, kubectl, client-go), Node's
 * spdy-transport (the checks' client). This one is the smallest that serves them.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';

const VERSION = 3;
const TYPE = { synStream: 1, synReply: 2, rstStream: 3, settings: 4, ping: 6, goAway: 7, headers: 8, windowUpdate: 9 } as const;
const FLAG_FIN = 0x01;
/** RST_STREAM status: the stream is refused (too many, or an unknown kind). */
export const REFUSED_STREAM = 3;
/** A frame longer than this is refused: our streams carry terminal bytes, not uploads. */
const MAX_FRAME = 1 << 20;

/** The SPDY/3 header dictionary, from the specification (draft 3, section 2.6.10.1), as base64. */
const HEADER_DICTIONARY = Buffer.from(
  [
  'AAAAB29wdGlvbnMAAAAEaGVhZAAAAARwb3N0AAAAA3B1dAAAAAZkZWxldGUAAAAFdHJhY2UAAAAGYWNjZXB0AAAADmFjY2Vw',
  'dC1jaGFyc2V0AAAAD2FjY2VwdC1lbmNvZGluZwAAAA9hY2NlcHQtbGFuZ3VhZ2UAAAANYWNjZXB0LXJhbmdlcwAAAANhZ2UA',
  'AAAFYWxsb3cAAAANYXV0aG9yaXphdGlvbgAAAA1jYWNoZS1jb250cm9sAAAACmNvbm5lY3Rpb24AAAAMY29udGVudC1iYXNl',
  'AAAAEGNvbnRlbnQtZW5jb2RpbmcAAAAQY29udGVudC1sYW5ndWFnZQAAAA5jb250ZW50LWxlbmd0aAAAABBjb250ZW50LWxv',
  'Y2F0aW9uAAAAC2NvbnRlbnQtbWQ1AAAADWNvbnRlbnQtcmFuZ2UAAAAMY29udGVudC10eXBlAAAABGRhdGUAAAAEZXRhZwAA',
  'AAZleHBlY3QAAAAHZXhwaXJlcwAAAARmcm9tAAAABGhvc3QAAAAIaWYtbWF0Y2gAAAARaWYtbW9kaWZpZWQtc2luY2UAAAAN',
  'aWYtbm9uZS1tYXRjaAAAAAhpZi1yYW5nZQAAABNpZi11bm1vZGlmaWVkLXNpbmNlAAAADWxhc3QtbW9kaWZpZWQAAAAIbG9j',
  'YXRpb24AAAAMbWF4LWZvcndhcmRzAAAABnByYWdtYQAAABJwcm94eS1hdXRoZW50aWNhdGUAAAATcHJveHktYXV0aG9yaXph',
  'dGlvbgAAAAVyYW5nZQAAAAdyZWZlcmVyAAAAC3JldHJ5LWFmdGVyAAAABnNlcnZlcgAAAAJ0ZQAAAAd0cmFpbGVyAAAAEXRy',
  'YW5zZmVyLWVuY29kaW5nAAAAB3VwZ3JhZGUAAAAKdXNlci1hZ2VudAAAAAR2YXJ5AAAAA3ZpYQAAAAd3YXJuaW5nAAAAEHd3',
  'dy1hdXRoZW50aWNhdGUAAAAGbWV0aG9kAAAAA2dldAAAAAZzdGF0dXMAAAAGMjAwIE9LAAAAB3ZlcnNpb24AAAAISFRUUC8x',
  'LjEAAAADdXJsAAAABnB1YmxpYwAAAApzZXQtY29va2llAAAACmtlZXAtYWxpdmUAAAAGb3JpZ2luMTAwMTAxMjAxMjAyMjA1',
  'MjA2MzAwMzAyMzAzMzA0MzA1MzA2MzA3NDAyNDA1NDA2NDA3NDA4NDA5NDEwNDExNDEyNDEzNDE0NDE1NDE2NDE3NTAyNTA0',
  'NTA1MjAzIE5vbi1BdXRob3JpdGF0aXZlIEluZm9ybWF0aW9uMjA0IE5vIENvbnRlbnQzMDEgTW92ZWQgUGVybWFuZW50bHk0',
  'MDAgQmFkIFJlcXVlc3Q0MDEgVW5hdXRob3JpemVkNDAzIEZvcmJpZGRlbjQwNCBOb3QgRm91bmQ1MDAgSW50ZXJuYWwgU2Vy',
  'dmVyIEVycm9yNTAxIE5vdCBJbXBsZW1lbnRlZDUwMyBTZXJ2aWNlIFVuYXZhaWxhYmxlSmFuIEZlYiBNYXIgQXByIE1heSBK',
  'dW4gSnVsIEF1ZyBTZXB0IE9jdCBOb3YgRGVjIDAwOjAwOjAwIE1vbiwgVHVlLCBXZWQsIFRodSwgRnJpLCBTYXQsIFN1biwg',
  'R01UY2h1bmtlZCx0ZXh0L2h0bWwsaW1hZ2UvcG5nLGltYWdlL2pwZyxpbWFnZS9naWYsYXBwbGljYXRpb24veG1sLGFwcGxp',
  'Y2F0aW9uL3hodG1sK3htbCx0ZXh0L3BsYWluLHRleHQvamF2YXNjcmlwdCxwdWJsaWNwcml2YXRlbWF4LWFnZT1nemlwLGRl',
  'ZmxhdGUsc2RjaGNoYXJzZXQ9dXRmLThjaGFyc2V0PWlzby04ODU5LTEsdXRmLSwqLGVucT0wLg==',
  ].join(''),
  'base64',
);

/** A zlib stream header that names no dictionary (0x78 0x01: deflate, 32K window, check bits). */
const ZLIB_HEADER = Buffer.from([0x78, 0x01]);

/** One stored deflate block: not final, type 00, then LEN and its ones' complement, little-endian. */
function storedBlock(data: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt16LE(data.length, 1);
  head.writeUInt16LE(~data.length & 0xffff, 3);
  return Buffer.concat([head, data]);
}

/** A header block's plain form: count, then length-prefixed names and values (32-bit big-endian). */
function encodeHeaders(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const entries = Object.entries(headers);
  parts.push(u32(entries.length));
  for (const [name, value] of entries) {
    parts.push(u32(Buffer.byteLength(name)), Buffer.from(name.toLowerCase()), u32(Buffer.byteLength(value)), Buffer.from(value));
  }
  return Buffer.concat(parts);
}

function decodeHeaders(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  let at = 0;
  const u32 = () => ((at += 4), block.readUInt32BE(at - 4));
  const text = (length: number) => ((at += length), block.subarray(at - length, at).toString());
  for (let count = u32(); count > 0; count--) {
    const name = text(u32()).toLowerCase();
    headers[name] = text(u32()).split('\0').join(', '); // several values are NUL-separated
  }
  return headers;
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | VERSION, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(((flags & 0xff) << 24) | payload.length, 4);
  return Buffer.concat([head, payload]);
}

function dataFrame(streamId: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(((flags & 0xff) << 24) | payload.length, 4);
  return Buffer.concat([head, payload]);
}

/**
 * A stream the client opened, as a Node Duplex: what the client sends is read from it
 * ('data', then 'end' at its FIN), and kept until someone reads (a client types before the
 * process runs); what is written goes to the client in data frames, and end() sends FIN.
 */
export class SpdyStream extends Duplex {
  private remoteEnded = false;

  constructor(
    readonly id: number,
    /** Lowercase names: "streamtype", "port", "requestid"... */
    readonly headers: Record<string, string>,
    private readonly connection: SpdyConnection,
  ) {
    super({ allowHalfOpen: true });
    this.on('error', () => {}); // (a reset stream: nothing to tell)
  }

  override _read(): void {} // data is pushed as frames arrive

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    for (let at = 0; at < chunk.length; at += 0xffff) this.connection.send(dataFrame(this.id, 0, chunk.subarray(at, at + 0xffff)));
    done();
  }

  /** Our side is done: an empty data frame with FIN. */
  override _final(done: (error?: Error | null) => void): void {
    this.connection.send(dataFrame(this.id, FLAG_FIN, Buffer.alloc(0)));
    done();
  }

  /** @internal the client sent data */
  remoteData(data: Buffer): void {
    if (!this.remoteEnded) this.push(data);
  }

  /** @internal the client's side is done (FIN, a reset, or the connection closed) */
  remoteEnd(): void {
    if (this.remoteEnded) return;
    this.remoteEnded = true;
    this.push(null);
  }
}

/**
 * The server's side of a SPDY connection on an upgraded socket. Events: 'stream' (a new
 * SpdyStream, already accepted), 'close'.
 */
export class SpdyConnection extends EventEmitter {
  private buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private receivedHeaderBytes: Buffer[] = [];
  private inflatedLength = 0;
  private headerStreamStarted = false;
  private lastStreamId = 0;
  private closed = false;

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // The client closed its side: close ours too (an upgraded HTTP socket is half-open by
    // default, and would stay in CLOSE-WAIT, holding the server open).
    socket.on('end', () => socket.end());
    socket.on('close', () => this.onClose());
    socket.on('error', () => socket.destroy());
  }

  /** @internal */
  send(frame: Buffer): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(frame);
  }

  /** GOAWAY, then close the socket once it is written. */
  close(): void {
    if (this.closed) return;
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(this.lastStreamId, 0);
    payload.writeUInt32BE(0, 4); // OK
    this.send(controlFrame(TYPE.goAway, 0, payload));
    this.closed = true;
    this.socket.end();
  }

  /** Refuse one stream (RST_STREAM). */
  reset(stream: SpdyStream, status = REFUSED_STREAM): void {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(stream.id, 0);
    payload.writeUInt32BE(status, 4);
    this.send(controlFrame(TYPE.rstStream, 0, payload));
    stream.remoteEnd();
    stream.destroy();
  }

  private onClose(): void {
    this.closed = true;
    for (const stream of this.streams.values()) stream.remoteEnd();
    this.emit('close');
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 8) {
      const length = this.buffer.readUInt32BE(4) & 0xffffff;
      if (length > MAX_FRAME) {
        this.socket.destroy(); // not a client of ours
        return;
      }
      if (this.buffer.length < 8 + length) return;
      const frame = this.buffer.subarray(0, 8 + length);
      this.buffer = this.buffer.subarray(8 + length);
      try {
        this.handle(frame);
      } catch {
        this.socket.destroy(); // a frame we cannot read: the connection is lost anyway
        return;
      }
    }
  }

  private handle(frame: Buffer): void {
    const flags = frame[4];
    const payload = frame.subarray(8);
    if ((frame[0] & 0x80) === 0) {
      // A data frame: to its stream, and the window given back.
      const stream = this.streams.get(frame.readUInt32BE(0) & 0x7fffffff);
      if (!stream) return;
      if (payload.length > 0) {
        this.windowUpdate(stream.id, payload.length);
        this.windowUpdate(0, payload.length);
        stream.remoteData(Buffer.from(payload));
      }
      if (flags & FLAG_FIN) stream.remoteEnd();
      return;
    }
    const type = frame.readUInt16BE(2);
    switch (type) {
      case TYPE.synStream: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const headers = this.inflate(payload.subarray(10));
        const stream = new SpdyStream(id, headers, this);
        this.streams.set(id, stream);
        this.lastStreamId = Math.max(this.lastStreamId, id);
        // Accept it: kubelet answers every stream with an empty SYN_REPLY; the HTTP-ish
        // ":status" and ":version" are for clients that read a reply as a response.
        const reply = Buffer.alloc(4);
        reply.writeUInt32BE(id);
        this.send(controlFrame(TYPE.synReply, 0, Buffer.concat([reply, this.deflate({ ':status': '200', ':version': 'HTTP/1.1' })])));
        this.emit('stream', stream);
        if (flags & FLAG_FIN) stream.remoteEnd();
        return;
      }
      case TYPE.rstStream: {
        const stream = this.streams.get(payload.readUInt32BE(0) & 0x7fffffff);
        if (stream) {
          stream.remoteEnd();
          stream.destroy();
        }
        return;
      }
      case TYPE.ping:
        this.send(controlFrame(TYPE.ping, 0, Buffer.from(payload))); // echoed: the client measures the round trip
        return;
      case TYPE.goAway:
        this.socket.end();
        return;
      case TYPE.headers:
        this.inflate(payload.subarray(4)); // (read, to keep the zlib stream in step; nothing we use)
        return;
      default:
        return; // SETTINGS, WINDOW_UPDATE: nothing to do for us
    }
  }

  /** The client's header block, read through its connection-long zlib stream. */
  private inflate(block: Buffer): Record<string, string> {
    this.receivedHeaderBytes.push(block);
    const all = zlib.inflateSync(Buffer.concat(this.receivedHeaderBytes), { dictionary: HEADER_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const fresh = all.subarray(this.inflatedLength);
    this.inflatedLength = all.length;
    return decodeHeaders(fresh);
  }

  /** Our header block: the zlib header once, then a stored block each time. */
  private deflate(headers: Record<string, string>): Buffer {
    const block = storedBlock(encodeHeaders(headers));
    if (this.headerStreamStarted) return block;
    this.headerStreamStarted = true;
    return Buffer.concat([ZLIB_HEADER, block]);
  }

  private windowUpdate(streamId: number, delta: number): void {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(streamId & 0x7fffffff, 0);
    payload.writeUInt32BE(delta & 0x7fffffff, 4);
    this.send(controlFrame(TYPE.windowUpdate, 0, payload));
  }
}
