/**
 * ApiClient: the ContainerApi over conmand's socket, with Node's own HTTP client (`http.request`
 * with a `socketPath` speaks HTTP to a unix socket). Errors come back as ApiError with
 * conmand's status and message; a missing or forbidden socket gets an error that says what
 * to do about it.
 *
 * Why node:http and not a faster client such as undici: a command line starts a new process
 * every time, and node:http is already inside Node (compiled ahead, in its startup snapshot),
 * while undici is a megabyte of JavaScript to parse on every `conman ps` (bench/manager.ts).
 */
import http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ExitStatus } from '#lower/03-shim/exit-status.ts';
import type { ExecState } from '#lower/03-shim/exec-process.ts';
import type { ContainerApi, ContainerInfo, WaitCondition } from './container-api.ts';
import { DEFAULT_SOCKET } from './defaults.ts';
import { sessionOverSocket } from './frames.ts';
import type { Session } from './session.ts';

/** The `conmand` script beside this file, as the user would type it from here. */
function conmandCommand(): string {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'conmand');
  const relative = path.relative(process.cwd(), script);
  return relative.startsWith('..') ? script : relative;
}

/** A terminal's size as the query of an upgrade (attach, exec start). */
function sizeQuery(size: { rows: number; cols: number } | undefined): URLSearchParams {
  const query = new URLSearchParams();
  if (size) {
    query.set('rows', String(size.rows));
    query.set('cols', String(size.cols));
  }
  return query;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A response's whole body, as text. */
async function textOf(response: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** conmand's error answer ({"message": ...}) as an ApiError. */
async function apiErrorOf(response: http.IncomingMessage): Promise<ApiError> {
  const text = await textOf(response);
  let message = text;
  try {
    message = (JSON.parse(text) as { message: string }).message;
  } catch {
    // not JSON: keep the text
  }
  return new ApiError(response.statusCode ?? 500, message);
}

export class ApiClient implements ContainerApi {
  /** keepAlive: a command's few requests share one connection. No timeouts: `wait` and `logs -f` last as long as the container does. */
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(readonly socketPath: string = DEFAULT_SOCKET) {}

  /** Why the socket cannot be used, in words a user can act on. */
  private unreachable(error: NodeJS.ErrnoException): Error {
    const code = error.code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      return new ApiError(503, `conmand is not running (nothing listens on ${this.socketPath}): start it (as root: \`setsid ${conmandCommand()} > conmand.log 2>&1 &\`), or add --no-daemon`);
    }
    if (code === 'EACCES') return new ApiError(403, `permission denied on ${this.socketPath}: only root may use conmand (try sudo)`);
    return error;
  }

  /** One request; resolves with the response once its headers came (a status of 400 or more: rejects with conmand's message). */
  private call(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request({
        socketPath: this.socketPath,
        agent: this.agent,
        method,
        path,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      });
      request.on('error', (error) => reject(this.unreachable(error)));
      request.on('response', (response) => {
        if ((response.statusCode ?? 500) >= 400) apiErrorOf(response).then(reject, reject);
        else resolve(response);
      });
      request.end(payload);
    });
  }

  /** One request, its JSON answer (a later chapter's endpoints use it too: chapter 07's /pods). */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return JSON.parse(await textOf(await this.call(method, path, body))) as T;
  }

  /** An HTTP upgrade to conmand's stream of frames (frames.ts), for attach and exec. */
  private async upgraded(path: string): Promise<Session> {
    const socket = await new Promise<Duplex>((resolve, reject) => {
      const request = http.request({
        socketPath: this.socketPath,
        method: 'POST',
        path,
        headers: { connection: 'Upgrade', upgrade: 'conman-stream' },
      });
      request.on('error', (error) => reject(this.unreachable(error)));
      request.on('upgrade', (_response, socket, head) => {
        if (head.length > 0) socket.unshift(head); // frames that came with the answer
        resolve(socket);
      });
      request.on('response', (response) => apiErrorOf(response).then(reject, reject)); // no upgrade: an error
      request.end();
    });
    const session = sessionOverSocket(socket);
    // conmand says "ready", or why not (404, 409...): the caller hears of it now, not later.
    await session.ready.catch((error: Error & { status?: number }) => {
      throw new ApiError(error.status ?? 500, error.message);
    });
    return session;
  }

  version(): Promise<{ name: string; apiVersion: string }> {
    return this.json('GET', '/version');
  }

  create(body: unknown): Promise<{ id: string; name: string }> {
    return this.json('POST', '/containers', body);
  }

  start(ref: string): Promise<ContainerInfo> {
    return this.json('POST', `/containers/${encodeURIComponent(ref)}/start`);
  }

  stop(ref: string, timeoutSeconds?: number): Promise<ContainerInfo> {
    return this.json('POST', `/containers/${encodeURIComponent(ref)}/stop${timeoutSeconds === undefined ? '' : `?t=${timeoutSeconds}`}`);
  }

  async kill(ref: string, signal?: string): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(ref)}/kill${signal ? `?signal=${encodeURIComponent(signal)}` : ''}`);
  }

  async remove(ref: string, force = false): Promise<void> {
    await this.json('DELETE', `/containers/${encodeURIComponent(ref)}${force ? '?force=1' : ''}`);
  }

  list(all = false): Promise<ContainerInfo[]> {
    return this.json('GET', `/containers${all ? '?all=1' : ''}`);
  }

  inspect(ref: string): Promise<ContainerInfo> {
    return this.json('GET', `/containers/${encodeURIComponent(ref)}`);
  }

  async watchExit(ref: string, condition: WaitCondition = 'not-running'): Promise<{ exited: Promise<ExitStatus | undefined>; cancel: () => void }> {
    // The headers arrive as soon as conmand registered the wait; the body when it is over.
    const response = await this.call('POST', `/containers/${encodeURIComponent(ref)}/wait?condition=${condition}`);
    const exited = textOf(response).then((text) => (JSON.parse(text) as { exit: ExitStatus | null }).exit ?? undefined);
    exited.catch(() => {}); // after cancel() nobody waits for it
    return { exited, cancel: () => response.destroy() };
  }

  async logs(ref: string, options: { follow?: boolean; tail?: number } = {}): Promise<AsyncIterable<Buffer>> {
    const query = new URLSearchParams();
    if (options.follow) query.set('follow', '1');
    if (options.tail !== undefined) query.set('tail', String(options.tail));
    const text = query.size ? `?${query}` : '';
    return this.call('GET', `/containers/${encodeURIComponent(ref)}/logs${text}`);
  }

  attach(ref: string, options: { start?: boolean; size?: { rows: number; cols: number } } = {}): Promise<Session> {
    const query = sizeQuery(options.size);
    if (options.start) query.set('start', '1');
    return this.upgraded(`/containers/${encodeURIComponent(ref)}/attach${query.size ? `?${query}` : ''}`);
  }

  async exec(ref: string, body: unknown, options: { size?: { rows: number; cols: number } } = {}): Promise<Session> {
    const { id } = await this.json<{ id: string }>('POST', `/containers/${encodeURIComponent(ref)}/exec`, body);
    const query = sizeQuery(options.size);
    return { ...(await this.upgraded(`/exec/${id}/start${query.size ? `?${query}` : ''}`)), execId: id };
  }

  async attachExec(execId: string): Promise<Session> {
    return { ...(await this.upgraded(`/exec/${encodeURIComponent(execId)}/attach`)), execId };
  }

  inspectExec(execId: string): Promise<ExecState & { container: string }> {
    return this.json('GET', `/exec/${encodeURIComponent(execId)}/json`);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
