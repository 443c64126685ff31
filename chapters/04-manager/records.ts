/**
 * The manager's memory: one record per container, on disk, so that it survives the manager.
 *
 *   <root>/containers/<id>/record.json     this record (what was asked, what was seen)
 *   <root>/containers/<id>/bundle/         the OCI bundle given to the runtime
 *   <root>/containers/<id>/container.log   the CRI log, kept across restarts of the container
 *
 * Every write goes to a temporary file first and is renamed into place: a crash in the middle
 * leaves the old record or the new one, never half a file. (dockerd keeps config.v2.json per
 * container the same way; containerd keeps its metadata in a bolt database.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';
import type { RuntimeName } from '#lower/02-lifecycle/runtime.ts';
import type { ExitStatus } from '#lower/03-shim/exit-status.ts';
import type { NetworkSettings, NetworkStatus } from './network-provider.ts';
import type { RestartPolicy } from './restart-policy.ts';

/**
 * created    the bundle exists, no process yet
 * running    a shim runs it
 * exited     it ended; `exit` says how
 * restarting it ended and its restart policy will start it again at `nextRestartAt`
 * unknown    it was running, but its shim vanished without recording an exit: nobody knows
 * removing   `rm` began; a manager that crashed in the middle finishes it on restart
 */
export type ContainerStatus = 'created' | 'running' | 'exited' | 'restarting' | 'unknown' | 'removing';

export interface ContainerRecord {
  id: string;
  name: string;
  /** When it was created (RFC 3339). */
  created: string;
  rootfs: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  tty: boolean;
  /** Keep stdin open for attach (-i). */
  stdin: boolean;
  runtime: RuntimeName;
  restartPolicy: RestartPolicy;
  /** --rm: remove it once it has exited. */
  autoRemove: boolean;
  /** The image it was made from (chapter 05), when its rootfs came from a RootfsProvider (rootfs-provider.ts). */
  image?: string;
  /** The user to run as, when not root (an image's User). */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /** What `stop` sends first, when not SIGTERM (an image's StopSignal, chapter 05). */
  stopSignal?: string;
  /** Its hostname, when not the short id. */
  hostname?: string;
  /** The network it asked for (chapter 06), when the manager has a NetworkProvider (network-provider.ts). */
  network?: NetworkSettings;
  /** Its address and published ports, while attached (from a start to the end of its run). */
  networkStatus?: NetworkStatus;
  /** Where its log is written, when not container.log in its folder (chapter 08: where kubelet reads it). */
  logPath?: string;
  /** The pod it belongs to (chapter 07; pod-provider.ts), and whether it is that pod's infra or a member. */
  pod?: { id: string; role: 'infra' | 'member' };

  status: ContainerStatus;
  /** The container's init as seen from the host, while running. */
  pid?: number;
  startedAt?: string;
  finishedAt?: string;
  exit?: ExitStatus;
  /** Restarts made by the restart policy since the last start by hand. */
  restartCount: number;
  /** The back-off waits used so far (ms), newest last. */
  restartDelaysMs: number[];
  nextRestartAt?: string;
  /** `stop` was asked: the restart policy must not bring it back. */
  stoppedByUser: boolean;
}

export class RecordStore {
  readonly containersDir: string;
  /** The folders of interrupted creates found by the last loadAll(). */
  interrupted: string[] = [];

  constructor(readonly root: string) {
    this.containersDir = path.join(root, 'containers');
    fs.mkdirSync(this.containersDir, { recursive: true, mode: 0o700 });
  }

  dirOf(id: string): string {
    return path.join(this.containersDir, id);
  }

  bundleOf(id: string): string {
    return path.join(this.dirOf(id), 'bundle');
  }

  logOf(id: string): string {
    return path.join(this.dirOf(id), 'container.log');
  }

  /** Write `record` atomically (temporary file, fsync, rename). */
  save(record: ContainerRecord): void {
    const dir = this.dirOf(record.id);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(path.join(dir, 'record.json'), JSON.stringify(record, null, 2) + '\n', { mode: 0o600, fsync: true });
  }

  /**
   * Every record on disk. A folder without a readable record is an interrupted create: its id
   * is kept in `interrupted` for the manager, which undoes what the create had made (a mounted
   * rootfs, a network namespace: providers' things) before it removes the folder.
   */
  loadAll(): ContainerRecord[] {
    this.interrupted = [];
    const records: ContainerRecord[] = [];
    for (const id of fs.readdirSync(this.containersDir)) {
      // A save a crash interrupted before its rename: the record it would have replaced stands.
      const files = fs.statSync(this.dirOf(id)).isDirectory() ? fs.readdirSync(this.dirOf(id)) : [];
      for (const file of files) if (file.endsWith('.tmp')) fs.rmSync(path.join(this.dirOf(id), file), { force: true });
      try {
        records.push(JSON.parse(fs.readFileSync(path.join(this.dirOf(id), 'record.json'), 'utf8')) as ContainerRecord);
      } catch {
        // create() writes record.json last, after the bundle, and nothing runs before it
        // exists: a folder without one is a create that crashed half-way.
        this.interrupted.push(id);
      }
    }
    return records;
  }

  remove(id: string): void {
    fs.rmSync(this.dirOf(id), { recursive: true, force: true });
  }
}
