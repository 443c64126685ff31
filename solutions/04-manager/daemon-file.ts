/**
 * <runRoot>/conmand.json: which process is conmand (PID and start time, chapter 03's
 * identity), and its socket. `conman --no-daemon` refuses to run beside a live conmand on the
 * same roots: two managers writing the same records would each believe it alone knows the truth.
 * (What keeps them apart for sure is the lock on the roots, root-lock.ts; this file gives the
 * friendlier message, naming the socket to talk to instead.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';
import { isAlive, startTimeOf, type ProcessIdentity } from '#lower/03-shim/identity.ts';

export interface DaemonFile extends ProcessIdentity {
  socket: string;
}

export const daemonFileOf = (runRoot: string) => path.join(runRoot, 'conmand.json');

export function writeDaemonFile(runRoot: string, socket: string): void {
  writeFileAtomic(daemonFileOf(runRoot), JSON.stringify({ pid: process.pid, startTime: startTimeOf(process.pid), socket }) + '\n', { mode: 0o600 });
}

/** The conmand running on `runRoot`, if one is. */
export function runningDaemon(runRoot: string): DaemonFile | undefined {
  try {
    const daemon = JSON.parse(fs.readFileSync(daemonFileOf(runRoot), 'utf8')) as DaemonFile;
    return isAlive(daemon) ? daemon : undefined;
  } catch {
    return undefined;
  }
}
