/**
 * The pod's shim: one process that runs every container of a pod, as containerd runs all of a
 * pod's containers under one shim (its Task API keys everything by container id). Started by
 * pod-shim-client.ts as
 *
 *   node pod-shim.mjs --pod POD_DIR
 *
 * Each container keeps all that chapter 03's shim gives it: its own folder, control socket,
 * log, exit.json, stdio or terminal, attach. They are the same `Shim` objects, several in one
 * process, so chapter 04's Manager talks to each exactly as before. What is shared:
 *
 *   - one Node process (about 25 MiB) for the whole pod instead of one per container;
 *   - one Reaper: the process is the subreaper of every container's init, and a child's exit
 *     must reach the Shim that owns it. Two reapers in one process would steal each other's
 *     children (the first to waitpid a zombie wins), so the Shims share the process's one;
 *   - POD_DIR/shim.sock, where the manager adds a container: it sends {"add": ASSIGNMENT}
 *     (chapter 03's, as a pooled shim gets it) and reads the usual handshake back
 *     ({"ok":true,"pid":...} or {"ok":false,"error":...}).
 *
 * It exits once its last container is deleted (the socket goes first, so that a manager
 * starts a new one for the pod's next container), or if nobody gives it a container at all.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeOwnIdentity } from '#lower/03-shim/identity.ts';
import { Reaper } from '#lower/03-shim/reaper.ts';
import { Shim, type ShimAssignment } from '#lower/03-shim/shim.ts';
import { scaled } from '#lib/slow.ts';
import { notImplemented } from '#lib/not-implemented.ts';

/** A pod shim that got no container by then exits (its starter died before it asked). */
const FIRST_CONTAINER_WITHIN_MS = scaled(60_000);
/** An add request is one JSON line, well under this. */
const MAX_REQUEST_BYTES = 1 << 20;

const { values } = parseArgs({ options: { pod: { type: 'string' } } });
if (!values.pod) {
  console.error('usage: pod-shim --pod POD_DIR');
  process.exit(2);
}
const podDir = values.pod;
const socketPath = path.join(podDir, 'shim.sock');

// A shim must outlive everything but SIGKILL: a stray SIGTERM or SIGHUP is not its end.
for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGPIPE'] as const) process.on(signal, () => {});

const shims = new Set<Shim>();
/** A bug (or an unfinished exercise): every container of the pod loses its shim, so say it loudly. */
function die(error: unknown): never {
  console.error(`pod shim ${podDir}: ${error instanceof Error ? error.stack : String(error)}`);
  for (const shim of shims) shim.reportFatal(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

const reaper = new Reaper();
reaper.start(); // at once: nothing a container could leave behind may escape us
writeOwnIdentity(podDir);
process.title = `conman-shim --pod ${podDir}`;

const server = net.createServer((connection) => {
  let text = '';
  connection.on('error', () => {}); // a manager that went: it only misses our answer
  connection.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    if (text.length > MAX_REQUEST_BYTES) return void connection.destroy();
    const newline = text.indexOf('\n');
    if (newline === -1) return;
    connection.removeAllListeners('data');
    let assignment: ShimAssignment;
    try {
      assignment = (JSON.parse(text.slice(0, newline)) as { add: ShimAssignment }).add;
      if (!assignment?.id || !assignment.dir) throw new Error('expected {"add": {id, bundle, dir, ...}}');
    } catch (error) {
      return void connection.end(JSON.stringify({ ok: false, error: `pod shim: ${(error as Error).message}` }) + '\n');
    }
    addContainer(assignment, (message) => connection.end(JSON.stringify(message) + '\n'));
  });
});

/**
 * One more container for this process: a chapter 03 Shim, sharing the process's reaper, that
 * answers the manager through `reply` (its handshake). Track it in `shims` while it runs; when
 * its run() ends (the container deleted), forget it, and leave() if it was the last. A run()
 * that fails is a bug: die() with its error.
 */
function addContainer(assignment: ShimAssignment, reply: (message: object) => void): void {
  clearTimeout(unused);
  // EXERCISE(pod-shim): run one more container in this process: a Shim with the shared reaper, tracked until its run() ends; leave with the last
  // Hints: a Shim takes the process's reaper as its second argument (without it, each Shim's
  // own reaper would reap, and keep, the others' exits). shim.run() resolves once its
  // container is deleted.
  throw notImplemented("07-pods/pod-shim", "run one more container in this process: a Shim with the shared reaper, tracked until its run() ends; leave with the last");
  // END EXERCISE
}

/** The last container is gone: stop taking new ones first (a manager then starts a new pod shim), then exit. */
function leave(): void {
  server.close();
  fs.rmSync(socketPath, { force: true });
  fs.rmSync(path.join(podDir, 'shim.json'), { force: true });
  reaper.stop();
  process.exit(0);
}

const unused = setTimeout(leave, FIRST_CONTAINER_WITHIN_MS);

fs.rmSync(socketPath, { force: true }); // a dead pod shim's
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(socketPath, resolve);
});
fs.chmodSync(socketPath, 0o600); // root only: it runs containers

// Ready: tell our starter on fd 3, then let go of it (we outlive it, as any shim does).
try {
  fs.writeSync(3, JSON.stringify({ ready: true, pid: process.pid }) + '\n');
  fs.closeSync(3);
} catch {
  // our starter is gone already; the next one finds the socket
}
