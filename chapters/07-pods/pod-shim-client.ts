/**
 * The manager's side of the pod shim (pod-shim.ts): give the pod's shim one more container,
 * starting the shim process first when the pod has none running.
 *
 * The caller holds the pod's lock: two starts in one pod must not both start a shim.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assignmentOf, shimDied, ShimLink, ShimStartError, spawnShim, type StartShimOptions } from '#lower/03-shim/client.ts';
import { isAlive, readIdentity, writeIdentity, type ProcessIdentity } from '#lower/03-shim/identity.ts';
import { notImplementedIn } from '#lib/not-implemented.ts';
import { scaled } from '#lib/slow.ts';

const POD_SHIM_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pod-shim.ts');

/** The pod's shim process, if one runs (its shim.json in the pod's folder). */
export function podShimOf(podDir: string): ProcessIdentity | undefined {
  const identity = readIdentity(podDir);
  return identity && isAlive(identity) ? identity : undefined;
}

/** Start the pod's shim process; resolves once it listens on POD_DIR/shim.sock. */
async function startPodShim(podDir: string, timeoutMs: number): Promise<void> {
  fs.mkdirSync(podDir, { recursive: true, mode: 0o700 });
  const link = new ShimLink(await spawnShim(['--pod', podDir], path.join(podDir, 'shim.log'), { entry: POD_SHIM_ENTRY }));
  const line = await link.next(timeoutMs, () => {
    link.child.kill('SIGKILL');
    return new ShimStartError(`timed out: the pod shim of ${podDir} said nothing within ${timeoutMs} ms (killed); a slow machine? set WORKSHOP_SLOW=3 or run \`workshop doctor\``);
  });
  if (line === undefined) throw shimDied(podDir, `the pod shim of ${podDir} exited (${link.child.exitCode ?? link.child.signalCode}) before it was ready`);
  link.release();
}

/** Send one add request; the reply line, or undefined when the shim closed without one (it was leaving). */
function requestAdd(podDir: string, assignment: object, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const connection = net.connect(path.join(podDir, 'shim.sock'));
    let text = '';
    const timer = setTimeout(() => {
      connection.destroy();
      reject(new ShimStartError(`timed out: the pod shim of ${podDir} did not answer for ${(assignment as { id: string }).id} within ${timeoutMs} ms; see ${path.join(podDir, 'shim.log')}`));
    }, timeoutMs);
    connection.on('connect', () => connection.write(JSON.stringify({ add: assignment }) + '\n'));
    connection.on('data', (chunk: Buffer) => (text += chunk.toString()));
    connection.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // No shim listens (none yet, or it has just left): the caller starts one.
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(undefined);
      else reject(error);
    });
    connection.on('close', () => {
      clearTimeout(timer);
      const newline = text.indexOf('\n');
      resolve(newline === -1 ? undefined : text.slice(0, newline));
    });
  });
}

/**
 * Have the pod's shim run one container, like chapter 03's startShim(): resolves once it
 * runs (or, with waitForStart, exists), with the shim's identity and the container's PID.
 */
export async function startInPodShim(podDir: string, options: StartShimOptions): Promise<{ shim: ProcessIdentity; pid: number }> {
  const assignment = assignmentOf(options);
  const timeoutMs = options.timeoutMs ?? scaled(15_000);
  let line: string | undefined;
  // Twice at most: a shim that was leaving (its last container gone) as we asked gets a successor.
  for (let attempt = 0; attempt < 2 && line === undefined; attempt++) {
    if (!podShimOf(podDir)) await startPodShim(podDir, timeoutMs);
    const shim = podShimOf(podDir);
    // shim.json in the container's folder at once, as startShim() does: whoever looks there finds its shim.
    if (shim) writeIdentity(options.dir, shim.pid);
    line = await requestAdd(podDir, assignment, timeoutMs);
  }
  if (line === undefined) throw shimDied(podDir, `the pod shim of ${podDir} took no container`);
  const message = JSON.parse(line) as { ok: boolean; pid?: number; error?: string };
  if (!message.ok) {
    fs.rmSync(options.dir, { recursive: true, force: true });
    throw notImplementedIn(message.error ?? '') ?? new ShimStartError(message.error ?? 'the pod shim failed');
  }
  return { shim: readIdentity(options.dir)!, pid: message.pid! };
}
