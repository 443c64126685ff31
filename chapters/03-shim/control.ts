/**
 * The shim's control socket: how the manager talks to a running shim, today or after its own
 * restart. One unix socket per container; on it, newline-delimited JSON requests, each
 * answered by one JSON line:
 *
 *   {"op":"state"}                      -> {"ok":true,"status":"running","pid":123}
 *   {"op":"wait"}                       -> (when the container has exited) {"ok":true,"exit":{...}}
 *   {"op":"start"}                      -> {"ok":true}   (a shim started with --wait-for-start)
 *   {"op":"kill","signal":"SIGTERM"}    -> {"ok":true}
 *   {"op":"resize","rows":40,"cols":120}-> {"ok":true}
 *   {"op":"close-stdin"}                -> {"ok":true}   (the container reads end of file)
 *   {"op":"delete"}                     -> {"ok":true}   (then the shim cleans up and exits)
 *   {"op":"attach"}                     -> {"ok":true}, then the connection carries raw bytes:
 *                                          the container's output to us, our input to it
 *   anything else                       -> {"ok":false,"error":"..."}
 *
 * And for exec processes (exec-process.ts), which the shim runs too:
 *
 *   {"op":"exec","exec":"ID","process":{"args":[...],"tty":true,...}} -> {"ok":true,"pid":124,...}
 *   {"op":"state","exec":"ID"}, wait, kill, resize, close-stdin, delete, attach: the same
 *                                          verbs, about that exec process, not the container
 *
 * containerd's shims speak ttrpc (protobuf) with the same verbs (State, Wait, Start, Kill,
 * ResizePty, CloseIO, Delete); conmon has an attach socket and a "ctl" FIFO for resizes.
 */
import fs from 'node:fs';
import net from 'node:net';
import { EXEC_ID, type ExecSpec } from './exec-process.ts';
import type { ExitStatus } from './exit-status.ts';
import { notImplemented } from '#lib/not-implemented.ts';

export interface ShimState {
  id: string;
  status: 'created' | 'running' | 'stopped';
  pid: number;
  exit?: ExitStatus;
  /** Output the log could not take (a full disk): dropped, and counted here. */
  logDropped?: { records: number; bytes: number };
  /** Why exit.json is not written yet (the exit is still told here and by `wait`). */
  exitFileError?: string;
}

/** What the control socket can ask of the shim. */
export interface ShimApi {
  state(): ShimState;
  /** Resolves when the container has exited (at once if it already has). */
  wait(): Promise<ExitStatus>;
  /** Start a container that was only created (--wait-for-start). */
  start(): Promise<void>;
  kill(signal: string): Promise<void>;
  resize(rows: number, cols: number): void;
  /** End of input: the container reads end of file on stdin (a terminal gets Ctrl-D). */
  closeStdin(): void;
  delete(): Promise<void>;
  /** Run another process in the container; resolves with its state once it runs. (The container's shim only.) */
  exec?(execId: string, spec: ExecSpec): Promise<ShimState>;
  /** Write the log at its path again, a new file if it was renamed (the container's shim only: `reopen-log`). */
  reopenLog?(): void;
  /** An exec process by id: it answers the same verbs, and takes attach connections. */
  execProcess?(execId: string): (ShimApi & { attach(connection: net.Socket): void }) | undefined;
}

export type Request = { op: string; [key: string]: unknown };
export type Reply = { ok: true; [key: string]: unknown } | { ok: false; error: string };

/**
 * Answer one request (all but attach, which ControlServer handles). Errors become
 * { ok: false, error } replies: a bad request must never bring the shim down.
 */
export async function handleRequest(api: ShimApi, request: Request): Promise<Reply> {
  // EXERCISE(control): answer state, wait, start, kill, resize, close-stdin and delete requests; any error becomes { ok: false, error }
  // Hints: a switch on request.op. Check the arguments' types (signal a string, rows and
  // cols positive integers) and name what is wrong: the client may be someone's typo in nc.
  throw notImplemented("03-shim/control", "answer state, wait, start, kill, resize, close-stdin and delete requests; any error becomes { ok: false, error }");
  // END EXERCISE
}

/** Serves the control socket: JSON lines, and the switch of a connection to attach mode. */
export class ControlServer {
  private readonly server: net.Server;
  private readonly connections = new Set<net.Socket>();

  constructor(
    readonly path: string,
    private readonly api: ShimApi,
    private readonly onAttach: (connection: net.Socket) => void,
  ) {
    this.server = net.createServer((connection) => this.serve(connection));
  }

  async listen(): Promise<void> {
    fs.rmSync(this.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, resolve);
    });
    fs.chmodSync(this.path, 0o600); // root only: the socket can kill the container
  }

  private serve(connection: net.Socket): void {
    this.connections.add(connection);
    connection.on('close', () => this.connections.delete(connection));
    connection.on('error', () => connection.destroy());
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let newline = buffer.indexOf('\n'); newline !== -1; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let request: Request;
        try {
          request = JSON.parse(line) as Request;
        } catch {
          request = undefined as unknown as Request;
        }
        if (typeof request !== 'object' || request === null || Array.isArray(request)) {
          connection.write(JSON.stringify({ ok: false, error: `not a JSON object: ${line.slice(0, 80)}` }) + '\n');
          continue;
        }
        const reply = (answer: Reply) => {
          if (!connection.destroyed) connection.write(JSON.stringify(answer) + '\n');
        };
        // An exec process: the same verbs, sent to it (containerd's Task API carries an exec_id the same way).
        let target: ShimApi = this.api;
        let attach = this.onAttach;
        if (request.exec !== undefined) {
          if (typeof request.exec !== 'string' || !EXEC_ID.test(request.exec)) {
            reply({ ok: false, error: `"exec" must be an id of letters, digits and _.- (up to 64), not ${JSON.stringify(request.exec)?.slice(0, 80)}` });
            continue;
          }
          if (request.op === 'exec') {
            void this.startExec(request.exec, request.process).then(reply);
            continue;
          }
          const process = this.api.execProcess?.(request.exec);
          if (!process) {
            reply({ ok: false, error: `no exec ${request.exec} in this container` });
            continue;
          }
          target = process;
          attach = (stream) => process.attach(stream);
        }
        if (request.op === 'attach') {
          // From now on the connection is a raw byte stream, not JSON lines. Pause it so
          // nothing is read before the attach handler listens (it resumes the stream).
          connection.off('data', onData);
          connection.pause();
          if (buffer) connection.unshift(Buffer.from(buffer));
          connection.write(JSON.stringify({ ok: true }) + '\n');
          attach(connection);
          return;
        }
        if (request.op === 'reopen-log' && target === this.api && this.api.reopenLog) {
          reply(this.reopenLog(this.api.reopenLog.bind(this.api)));
          continue;
        }
        void handleRequest(target, request).then(reply);
      }
    };
    connection.on('data', onData);
  }

  /** `reopen-log`: log rotation's second half (the CRI's ReopenContainerLog). */
  private reopenLog(reopen: () => void): Reply {
    try {
      reopen();
      return { ok: true };
    } catch (error) {
      return { ok: false, error: `reopen-log: ${(error as Error).message}` };
    }
  }

  /** `exec`: check the process's description, then have the shim run it. */
  private async startExec(execId: string, process: unknown): Promise<Reply> {
    const spec = process as ExecSpec;
    if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.args) || spec.args.length === 0 || !spec.args.every((arg) => typeof arg === 'string')) {
      return { ok: false, error: 'exec: "process" must be an object with "args", a non-empty list of strings' };
    }
    const size = spec.size as { rows?: unknown; cols?: unknown } | undefined;
    if (size !== undefined && !(typeof size === 'object' && size !== null && [size.rows, size.cols].every((n) => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536))) {
      return { ok: false, error: 'exec: "size" must be {"rows": N, "cols": N}, whole numbers from 1 to 65535' };
    }
    if (!this.api.exec) return { ok: false, error: 'exec: this shim does not run exec processes' };
    try {
      return { ok: true, ...(await this.api.exec(execId, spec)) };
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }

  close(): void {
    this.server.close();
    for (const connection of this.connections) connection.destroy();
    fs.rmSync(this.path, { force: true });
  }
}
