/**
 * A SPDY/3.1 client of the CRI streaming server, as client-go's SPDY executor (kubectl
 * before 1.30, crictl, critest) speaks it: the HTTP upgrade with X-Stream-Protocol-Version,
 * then one stream per channel. The framing is Node's spdy-transport, an implementation apart
 * from the server's own (solutions/08-cri/spdy.ts): a check through it is a check that two
 * implementations agree, not that one agrees with itself.
 */
import net from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const transport = require('spdy-transport') as any;

type Stream = NodeJS.ReadWriteStream & { end(data?: Buffer | string): void };

/** Upgrade `url` to SPDY/3.1 with `protocol`; resolves with spdy-transport's connection, or rejects with the server's answer. */
export function spdyConnect(url: string, protocol: string): Promise<{ request(headers: Record<string, string>): Promise<Stream>; close(): void }> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let answer = Buffer.alloc(0);
    socket.on('error', reject);
    socket.once('connect', () => socket.write(`POST ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`));
    const onData = (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      const end = answer.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const head = answer.subarray(0, end).toString();
      if (!/^HTTP\/1\.1 101 /.test(head) || !new RegExp(`^x-stream-protocol-version: ${protocol}$`, 'im').test(head)) {
        reject(new Error(`no upgrade: ${answer.toString().trim()}`));
        socket.destroy();
        return;
      }
      socket.pause();
      if (answer.length > end + 4) socket.unshift(answer.subarray(end + 4));
      const connection = transport.connection.create(socket, { protocol: 'spdy', isServer: false });
      connection.start(3.1);
      connection.on('error', () => {});
      resolve({
        request: (headers) =>
          new Promise((resolveStream, rejectStream) => {
            connection.request({ method: 'POST', path: pathname, host: hostname, headers }, (error: Error | null, stream: Stream) => (error ? rejectStream(error) : resolveStream(stream)));
          }),
        close: () => socket.destroy(),
      });
      socket.resume();
    };
    socket.on('data', onData);
  });
}

/** kubectl exec over SPDY: the streams it opens, `input` on stdin (then its end); collect stdout, stderr and the Status. */
export async function spdyExec(url: string, options: { input?: string; stdin?: boolean; tty?: boolean; size?: { Width: number; Height: number } } = {}): Promise<{ stdout: string; stderr: string; status: unknown }> {
  const connection = await spdyConnect(url, 'v4.channel.k8s.io');
  const out = { stdout: '', stderr: '', status: undefined as unknown };
  const read = (stream: Stream, into: 'stdout' | 'stderr' | 'error') =>
    new Promise<string>((resolve) => {
      let text = '';
      stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
      stream.on('end', () => resolve(text));
      stream.on('close', () => resolve(text));
      stream.on('error', () => resolve(text));
      void into;
    });
  try {
    // client-go's order: error first, then stdin, stdout, stderr, resize.
    const error = await connection.request({ streamtype: 'error' });
    const errorText = read(error, 'error');
    const stdin = options.stdin ? await connection.request({ streamtype: 'stdin' }) : undefined;
    const stdout = read(await connection.request({ streamtype: 'stdout' }), 'stdout');
    const stderr = options.tty ? Promise.resolve('') : read(await connection.request({ streamtype: 'stderr' }), 'stderr');
    if (options.tty) {
      const resize = await connection.request({ streamtype: 'resize' });
      if (options.size) resize.write(`${JSON.stringify(options.size)}\n`);
    }
    if (stdin) stdin.end(options.input ?? '');
    [out.stdout, out.stderr] = await Promise.all([stdout, stderr]);
    const status = await errorText;
    out.status = status ? JSON.parse(status) : undefined;
    return out;
  } finally {
    connection.close();
  }
}

/** kubectl port-forward over SPDY: one request through the pod's `port`, its answer. */
export async function spdyForward(url: string, port: number, request: string): Promise<string> {
  const connection = await spdyConnect(url, 'portforward.k8s.io');
  try {
    const headers = { port: String(port), requestid: '0' };
    const error = await connection.request({ ...headers, streamtype: 'error' });
    let errors = '';
    error.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const data = await connection.request({ ...headers, streamtype: 'data' });
    return await new Promise<string>((resolve, reject) => {
      let answer = '';
      data.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      data.on('end', () => (errors ? reject(new Error(errors)) : resolve(answer)));
      data.on('error', reject);
      data.write(request);
    });
  } finally {
    connection.close();
  }
}
