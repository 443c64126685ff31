/**
 * ApiClient: the ContainerApi over conmand's socket, with undici (an HTTP client that speaks
 * to a unix socket through its Agent's `socketPath`). Errors come back as ApiError with
 * conmand's status and message; a missing or forbidden socket gets an error that says what
 * to do about it.
 */
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Agent, request, upgrade } from 'undici';
import type { ExitStatus } from '#lower/03-shim/exit-status.ts';
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

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ApiClient implements ContainerApi {
  private readonly agent: Agent;

  constructor(readonly socketPath: string = DEFAULT_SOCKET) {
    // No timeouts on bodies: `wait` and `logs -f` last as long as the container does.
    this.agent = new Agent({ connect: { socketPath }, bodyTimeout: 0, headersTimeout: 0 });
  }

  /** Why the socket cannot be used, in words a user can act on. */
  private unreachable(error: NodeJS.ErrnoException): Error {
    const code = error.code ?? (error.cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      return new ApiError(503, `conmand is not running (nothing listens on ${this.socketPath}): start it (as root: \`setsid ${conmandCommand()} > conmand.log 2>&1 &\`), or add --no-daemon`);
    }
    if (code === 'EACCES') return new ApiError(403, `permission denied on ${this.socketPath}: only root may use conmand (try sudo)`);
    return error;
  }

  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: AsyncIterable<Buffer> & { json(): Promise<unknown>; text(): Promise<string>; destroy(): void } }> {
    let response;
    try {
      response = await request(`http://conmand${path}`, {
        dispatcher: this.agent,
        method: method as 'GET',
        ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      });
    } catch (error) {
      throw this.unreachable(error as NodeJS.ErrnoException);
    }
    if (response.statusCode >= 400) {
      const text = await response.body.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message: string }).message;
      } catch {
        // not JSON: keep the text
      }
      throw new ApiError(response.statusCode, message);
    }
    return { status: response.statusCode, body: response.body };
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.call(method, path, body)).body.json()) as T;
  }

  private async upgraded(path: string): Promise<Session> {
    let socket: Duplex;
    try {
      ({ socket } = await upgrade(`http://conmand${path}`, { dispatcher: this.agent, method: 'POST', protocol: 'conman-stream' }));
    } catch (error) {
      throw this.unreachable(error as NodeJS.ErrnoException);
    }
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
    const exited = response.body.json().then((body) => (body as { exit: ExitStatus | null }).exit ?? undefined);
    exited.catch(() => {}); // after cancel() nobody waits for it
    return { exited, cancel: () => response.body.destroy() };
  }

  async logs(ref: string, options: { follow?: boolean; tail?: number } = {}): Promise<AsyncIterable<Buffer>> {
    const query = new URLSearchParams();
    if (options.follow) query.set('follow', '1');
    if (options.tail !== undefined) query.set('tail', String(options.tail));
    const text = query.size ? `?${query}` : '';
    return (await this.call('GET', `/containers/${encodeURIComponent(ref)}/logs${text}`)).body;
  }

  attach(ref: string, options: { start?: boolean; size?: { rows: number; cols: number } } = {}): Promise<Session> {
    const query = new URLSearchParams();
    if (options.start) query.set('start', '1');
    if (options.size) {
      query.set('rows', String(options.size.rows));
      query.set('cols', String(options.size.cols));
    }
    return this.upgraded(`/containers/${encodeURIComponent(ref)}/attach${query.size ? `?${query}` : ''}`);
  }

  async exec(ref: string, body: unknown): Promise<Session> {
    const { id } = await this.json<{ id: string }>('POST', `/containers/${encodeURIComponent(ref)}/exec`, body);
    return this.upgraded(`/exec/${id}/start`);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
