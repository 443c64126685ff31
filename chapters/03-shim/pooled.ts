/**
 * A pooled shim: started before any container needs it, so that a container's start does not
 * wait for Node to boot (chapter 04's shim-pool.ts keeps a few of them in conmand).
 *
 * Started with `--pool DIR`, the shim loads everything, becomes a child subreaper, says
 * {"ready":true} on fd 3 and waits there. fd 3 is one end of a socket pair whose other end
 * its manager holds, so it speaks both ways:
 *
 *   manager → shim   {"assign": {id, bundle, dir, runtime, stateRoot, stdin, ...}}
 *   shim → manager   the usual handshake: {"ok":true,"pid":...} or {"ok":false,"error":...}
 *
 * From the handshake on, it is an ordinary shim, on its own like any other. Before it, it
 * belongs to its manager: when the manager goes (exits, crashes, is killed), its end of the
 * pair closes, the shim reads end-of-file and exits. No idle shim outlives its manager.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ShimAssignment } from './shim.ts';
import { dup2, setChildSubreaper } from './syscalls.ts';

/**
 * Wait on fd 3 for a container; exits the process if the manager goes first. Resolves with
 * the assignment and the way to answer it (once: the link is closed after the answer).
 */
export function waitForAssignment(poolDir: string): Promise<{ assignment: ShimAssignment; reply: (message: object) => void }> {
  // At once, not at assignment: nothing a container could leave behind may escape us.
  setChildSubreaper();
  const link = new net.Socket({ fd: 3, readable: true, writable: true });
  // A manager that is gone: the write fails (EPIPE) or the read ends. Either way, leave.
  const leave = () => process.exit(0);
  link.on('error', leave);
  link.on('end', leave);
  link.write(JSON.stringify({ ready: true }) + '\n');
  // `ps` (and a check waiting for the pool) sees that it is up and waiting.
  process.title = `conman-shim --pool ${poolDir} (idle)`;
  return new Promise((resolve) => {
    let text = '';
    link.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const newline = text.indexOf('\n');
      if (newline === -1) return;
      link.removeAllListeners('data');
      link.off('end', leave);
      link.off('error', leave);
      link.on('error', () => {}); // from here on, a gone manager only misses our answer
      const { assign } = JSON.parse(text.slice(0, newline)) as { assign: ShimAssignment };
      logTo(path.join(assign.dir, 'shim.log'));
      // Back to normal priority before the container exists: runc and the container's process
      // inherit ours, and must not run at a background niceness. (Lowering it needs root.)
      try {
        os.setPriority(0);
      } catch (error) {
        console.error(`conman-shim: cannot take back the normal CPU priority: ${(error as Error).message}`);
      }
      // `ps` (and a manager looking for the processes of a folder) now sees whose shim we are.
      // Linux keeps the title in the space of our original arguments: a long one is cut short.
      process.title = `conman-shim --dir ${assign.dir} --id ${assign.id}`;
      resolve({
        assignment: assign,
        reply: (message) => {
          link.end(JSON.stringify(message) + '\n');
          link.unref();
        },
      });
    });
  });
}

/**
 * Our stdout and stderr (console.error) go to the container's shim.log from now on, where a
 * manager looks for a shim's last words. Node cannot re-point fd 1 and 2; dup2(2) can.
 */
function logTo(file: string): void {
  const fd = fs.openSync(file, 'a', 0o600);
  dup2(fd, 1);
  dup2(fd, 2);
  fs.closeSync(fd);
}
