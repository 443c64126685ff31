/**
 * conmand's API: HTTP/JSON on a unix socket, like dockerd's and podman's.
 *
 *   GET    /version
 *   GET    /containers?all=1                  list
 *   POST   /containers                        create (JSON body: requests.ts)        → 201
 *   GET    /containers/REF                    inspect
 *   POST   /containers/REF/start
 *   POST   /containers/REF/stop?t=SECONDS
 *   POST   /containers/REF/kill?signal=SIG
 *   DELETE /containers/REF?force=1
 *   POST   /containers/REF/wait?condition=next-exit|not-running
 *          (the headers come at once, the body when the container exits)
 *   GET    /containers/REF/logs?follow=1&tail=N   the CRI log's records, streamed
 *   POST   /containers/REF/attach?start=1&rows=R&cols=C
 *          Upgrade: the connection carries frames.ts (start: attach, then start it; rows and
 *          cols: its terminal's size before it starts)
 *   POST   /containers/REF/exec               JSON body → 201 {"id"}; then
 *   POST   /exec/ID/start?rows=R&cols=C       Upgrade: frames (rows and cols: a terminal's size from the start)
 *   POST   /exec/ID/attach                    Upgrade: frames, to an exec started earlier (the
 *                                             shim runs it: it outlives a conmand restart)
 *   GET    /exec/ID/json                      its state: running, or exited with its code
 *
 * Errors are JSON, {"message": "..."}, with the status of errors.ts: 400, 404, 409, 429, 507,
 * or 500. Who may talk to it is decided by the socket file's mode (0600, root only), as for
 * /run/docker.sock (0660, group docker) and containerd.sock.
 *
 * Limits, as any daemon needs them: a body of 1 MiB at most, 32 execs created and not yet
 * started, and a connection that has not sent a whole request within 10 s is closed.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { scaled } from '#lib/slow.ts';
import { badRequest, ManagerError, notFound, statusOf } from './errors.ts';
import { checkExecRequest } from './requests.ts';
import { encodeFrame, FRAME, serveSession } from './frames.ts';
import type { Manager } from './manager.ts';
import type { Session } from './session.ts';

export const API_VERSION = '1';
/** Execs created and not started yet, at most: each holds its request (up to 1 MiB) for a minute. */
export const MAX_PENDING_EXECS = 32;
const PENDING_EXEC_MS = 60_000;
/** A connection that has not sent a whole request by then is let go (held open, it costs a socket and memory). */
export const IDLE_CONNECTION_MS = scaled(10_000);

type Query = URLSearchParams;
export interface Route {
  method: string;
  pattern: RegExp;
  /** Query parameters this route understands; any other is a 400. */
  query?: string[];
  handle: (manager: Manager, match: string[], query: Query, body: () => Promise<unknown>, response: http.ServerResponse) => Promise<void>;
}

export function sendJson(response: http.ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value) + '\n';
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

export function numberParam(query: Query, name: string): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  if (!/^\d+$/.test(text)) throw badRequest(`query parameter "${name}" must be a whole number, not "${text}"`);
  return Number(text);
}

export const flag = (query: Query, name: string) => ['1', 'true'].includes(query.get(name) ?? '');

/** rows and cols, both or neither, each 1 to 65535 (the kernel's winsize holds 16 bits). */
function terminalSize(query: Query): { rows: number; cols: number } | undefined {
  const rows = numberParam(query, 'rows');
  const cols = numberParam(query, 'cols');
  if (rows === undefined && cols === undefined) return undefined;
  const valid = (n: number | undefined) => n !== undefined && n >= 1 && n <= 65535;
  if (!valid(rows) || !valid(cols)) throw badRequest('a terminal size needs both "rows" and "cols", each from 1 to 65535');
  return { rows: rows!, cols: cols! };
}

const ROUTES: Route[] = [
  { method: 'GET', pattern: /^\/version$/, handle: async (_m, _match, _q, _b, res) => sendJson(res, 200, { name: 'conmand', apiVersion: API_VERSION, node: process.version }) },
  { method: 'GET', pattern: /^\/containers$/, query: ['all'], handle: async (m, _match, q, _b, res) => sendJson(res, 200, await m.list(flag(q, 'all'))) },
  { method: 'POST', pattern: /^\/containers$/, handle: async (m, _match, _q, body, res) => sendJson(res, 201, await m.create(await body())) },
  { method: 'GET', pattern: /^\/containers\/([^/]+)$/, handle: async (m, [ref], _q, _b, res) => sendJson(res, 200, await m.inspect(ref)) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/start$/, handle: async (m, [ref], _q, _b, res) => sendJson(res, 200, await m.start(ref)) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/stop$/, query: ['t'], handle: async (m, [ref], q, _b, res) => sendJson(res, 200, await m.stop(ref, numberParam(q, 't'))) },
  {
    method: 'POST',
    pattern: /^\/containers\/([^/]+)\/kill$/,
    query: ['signal'],
    handle: async (m, [ref], q, _b, res) => (await m.kill(ref, q.get('signal') ?? undefined), sendJson(res, 200, {})),
  },
  { method: 'DELETE', pattern: /^\/containers\/([^/]+)$/, query: ['force'], handle: async (m, [ref], q, _b, res) => (await m.remove(ref, flag(q, 'force')), sendJson(res, 200, {})) },
  {
    method: 'POST',
    pattern: /^\/containers\/([^/]+)\/wait$/,
    query: ['condition'],
    handle: async (m, [ref], q, _b, res) => {
      const condition = q.get('condition') ?? 'not-running';
      if (condition !== 'next-exit' && condition !== 'not-running') throw badRequest(`condition must be next-exit or not-running, not "${condition}"`);
      const { exited, cancel } = await m.watchExit(ref, condition);
      res.on('close', cancel); // the client hung up: forget its wait
      // Headers now: the client knows its wait is registered (it may start the container).
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const exit = await exited;
      res.end(JSON.stringify({ exit: exit ?? null }) + '\n');
    },
  },
  {
    method: 'GET',
    pattern: /^\/containers\/([^/]+)\/logs$/,
    query: ['follow', 'tail'],
    handle: async (m, [ref], q, _b, res) => {
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const records = await m.logs(ref, { follow: flag(q, 'follow'), tail: numberParam(q, 'tail'), signal: abort.signal });
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.flushHeaders();
      for await (const chunk of records) {
        if (abort.signal.aborted) break;
        // A slow reader: wait for it instead of piling a large log up in memory.
        if (!res.write(chunk)) await new Promise((resolve) => (res.once('drain', resolve), res.once('close', resolve)));
      }
      res.end();
    },
  },
  {
    method: 'POST',
    pattern: /^\/containers\/([^/]+)\/exec$/,
    handle: async (m, [ref], _q, body, res) => {
      const request = checkExecRequest(await body()); // 400 now, naming the field
      const id = m.resolve(ref); // 404 now, not after the upgrade
      if (pendingExecs.size >= MAX_PENDING_EXECS) {
        throw new ManagerError(429, `too many execs created and not started (${MAX_PENDING_EXECS}): start them (POST /exec/ID/start), or wait: each expires ${PENDING_EXEC_MS / 1000} s after its create`);
      }
      const execId = randomBytes(8).toString('hex');
      pendingExecs.set(execId, { ref: id, request });
      setTimeout(() => pendingExecs.delete(execId), PENDING_EXEC_MS).unref();
      sendJson(res, 201, { id: execId });
    },
  },
  {
    method: 'GET',
    pattern: /^\/exec\/([^/]+)\/json$/,
    handle: async (m, [execId], _q, _body, res) => sendJson(res, 200, await m.inspectExec(execId)),
  },
];

/** Execs created but not started yet (docker's two-step exec: create, then start). */
const pendingExecs = new Map<string, { ref: string; request: unknown }>();

/** The path's parts, decoded; a malformed escape ("%ZZ") is the client's error. */
function pathParts(pattern: RegExp, pathname: string): string[] {
  try {
    return pattern.exec(pathname)!.slice(1).map(decodeURIComponent);
  } catch {
    throw badRequest(`malformed path: ${pathname}`);
  }
}

/** A later chapter's own endpoints (chapter 07's /pods), registered before the server starts. */
export function registerRoutes(routes: Route[]): void {
  ROUTES.push(...routes);
}

/** Upgraded routes: after "101 Switching Protocols" the socket carries frames. */
const UPGRADES: { pattern: RegExp; open: (manager: Manager, match: string[], query: Query) => Promise<Session> }[] = [
  { pattern: /^\/containers\/([^/]+)\/attach$/, open: (m, [ref], q) => m.attach(ref, { start: flag(q, 'start'), size: terminalSize(q) }) },
  {
    pattern: /^\/exec\/([^/]+)\/start$/,
    open: async (m, [execId], q) => {
      const pending = pendingExecs.get(execId);
      if (!pending) throw notFound(`exec ${execId}`);
      pendingExecs.delete(execId);
      return m.exec(pending.ref, pending.request, { execId, size: terminalSize(q) });
    },
  },
  { pattern: /^\/exec\/([^/]+)\/attach$/, open: (m, [execId]) => m.attachExec(execId) },
];

async function readJsonBody(request: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024 * 1024) throw badRequest('request body over 1 MiB');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`malformed JSON in the request body: ${(error as Error).message}`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function createApiServer(manager: Manager): http.Server {
  // Until its first request, a connection has IDLE_CONNECTION_MS; then Node's own limits apply
  // (headers within 60 s, 5 s idle between keep-alive requests), and a wait or logs -f may last.
  const idle = new WeakMap<Duplex, NodeJS.Timeout>();
  const spoke = (socket: Duplex) => clearTimeout(idle.get(socket));
  const server = http.createServer((request, response) => {
    spoke(request.socket);
    void (async () => {
      let url = new URL('http://conmand/');
      try {
        try {
          url = new URL(request.url ?? '/', 'http://conmand');
        } catch {
          throw badRequest(`malformed request target: ${request.url}`);
        }
        const byPath = ROUTES.filter((route) => route.pattern.test(url.pathname));
        const route = byPath.find((candidate) => candidate.method === request.method);
        if (!route) {
          if (byPath.length > 0) return sendJson(response, 405, { message: `${request.method} is not allowed on ${url.pathname} (try ${byPath.map((r) => r.method).join(', ')})` });
          return sendJson(response, 404, { message: `no such endpoint: ${request.method} ${url.pathname}` });
        }
        for (const key of url.searchParams.keys()) {
          if (!(route.query ?? []).includes(key)) throw badRequest(`unknown query parameter "${key}" for ${request.method} ${url.pathname}`);
        }
        await route.handle(manager, pathParts(route.pattern, url.pathname), url.searchParams, () => readJsonBody(request), response);
      } catch (error) {
        const status = statusOf(error);
        if (status === 500) console.error(`conmand: ${request.method} ${url.pathname}: ${error instanceof Error ? error.stack : error}`);
        if (!response.headersSent) sendJson(response, status, { message: messageOf(error) });
        else response.destroy();
      }
    })();
  });

  server.on('connection', (socket: net.Socket) => {
    const timer = setTimeout(() => socket.destroy(), IDLE_CONNECTION_MS);
    timer.unref();
    idle.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });

  server.on('upgrade', (request: http.IncomingMessage, socket: Duplex) => {
    spoke(socket);
    socket.on('error', () => {});
    let url: URL | undefined;
    try {
      url = new URL(request.url ?? '/', 'http://conmand');
    } catch {
      url = undefined;
    }
    const upgrade = url && UPGRADES.find((candidate) => candidate.pattern.test(url.pathname));
    if (!url || !upgrade || request.method !== 'POST') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: conman-stream\r\n\r\n');
    // From here on, errors travel as an error frame: {status, message}.
    const { pathname, searchParams } = url;
    Promise.resolve()
      .then(() => upgrade.open(manager, pathParts(upgrade.pattern, pathname), searchParams))
      .then(
        // The client may have left while the session was being opened (a start takes a while).
        (session) => (socket.destroyed ? session.close() : serveSession(session, socket)),
        (error) => void socket.end(encodeFrame(FRAME.error, JSON.stringify({ status: statusOf(error), message: messageOf(error) }))),
      )
      .catch(() => socket.destroy()); // never let one session's trouble end the daemon
  });
  return server;
}

/** Does a process accept connections on this unix socket? */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = net.connect(socketPath);
    const done = (value: boolean) => (connection.destroy(), resolve(value));
    connection.once('connect', () => done(true));
    connection.once('error', () => done(false)); // ECONNREFUSED: nobody listens any more
    connection.setTimeout(scaled(2000), () => done(true)); // accepted by the kernel, slow to answer: alive
  });
}

/** The socket path belongs to someone else: conmand refuses to start. */
export class SocketInUseError extends Error {}

/**
 * May we listen on `socketPath`? Only if nothing is there, or a stale socket (its daemon died).
 * Anything else is someone's: a file named by mistake, or a daemon (of other roots) that answers.
 */
export async function checkSocketPath(socketPath: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) {
    const kind = stat.isFile() ? 'a regular file' : stat.isDirectory() ? 'a folder' : stat.isSymbolicLink() ? 'a symbolic link' : 'not a socket';
    throw new SocketInUseError(`${socketPath} is ${kind}, not a socket: refusing to replace it; remove it yourself, or choose another --socket`);
  }
  if (await answers(socketPath)) {
    throw new SocketInUseError(`another daemon answers on ${socketPath}: refusing to take its socket; stop it first, or choose another --socket`);
  }
}

/**
 * Listen on `socketPath`, mode 0600. The umask is set before bind(2), so the socket is never
 * reachable by others, not even for the instant between bind and a chmod.
 */
export async function listenOnSocket(server: http.Server, socketPath: string): Promise<void> {
  await checkSocketPath(socketPath);
  fs.rmSync(socketPath, { force: true }); // a stale socket from a crashed daemon
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => (server.off('error', reject), resolve()));
    });
  } finally {
    process.umask(previous);
  }
  fs.chmodSync(socketPath, 0o600);
}
