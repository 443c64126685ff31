/**
 * Pod records: <root>/pods/<id>/pod.json, one per pod, written whole and atomically. A pod's
 * state is not in it: whether it runs is its containers' state, which the Manager keeps (and
 * recovers after a crash). The record holds only what the pod was asked to be.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';
import { explainNoSpace } from '#lower/04-manager/disk-full.ts';
import type { PodLimits } from './pod-cgroup.ts';

/** The namespaces a pod's containers share, by their runtime-spec names. */
export type SharedNamespace = 'network' | 'ipc' | 'uts' | 'pid';
/** What `pod create` shares unless told otherwise (podman's default too: the PID namespace is opt-in). */
export const DEFAULT_SHARE: SharedNamespace[] = ['network', 'ipc', 'uts'];
export type HostNamespace = 'ipc' | 'pid';

export interface PodRecord {
  id: string;
  name: string;
  created: string;
  hostname: string;
  /** The network of the pod (its infra's): "bridge", "none", "host" or a network's name; unset: the manager's default. */
  network?: string;
  publish: string[];
  dns: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  share: SharedNamespace[];
  /** Namespaces its containers take from the host instead (Kubernetes' hostIPC, hostPID): none of their own. */
  hostNamespaces?: HostNamespace[];
  limits: PodLimits;
  /** Its cgroup, from the root of each hierarchy. */
  cgroup: string;
  /** The infra container's id, once made. */
  infra?: string;
}

export class PodStore {
  readonly dir: string;

  /** `root`: the manager's root; pods live in <root>/pods. */
  constructor(root: string) {
    this.dir = path.join(root, 'pods');
  }

  fileOf(id: string): string {
    return path.join(this.dir, id, 'pod.json');
  }

  loadAll(): PodRecord[] {
    if (!fs.existsSync(this.dir)) return [];
    const records: PodRecord[] = [];
    for (const entry of fs.readdirSync(this.dir)) {
      if (!/^[0-9a-f]{64}$/.test(entry)) continue; // (the infra rootfs, temporary folders)
      try {
        records.push(JSON.parse(fs.readFileSync(this.fileOf(entry), 'utf8')) as PodRecord);
      } catch (error) {
        // A pod whose record was never written (a crash in create): nothing of it ran yet.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') fs.rmSync(path.join(this.dir, entry), { recursive: true, force: true });
        else console.error(`conman: pod ${entry}: unreadable record, ignored: ${(error as Error).message}`);
      }
    }
    return records;
  }

  save(record: PodRecord): void {
    try {
      fs.mkdirSync(path.dirname(this.fileOf(record.id)), { recursive: true, mode: 0o700 });
      writeFileAtomic(this.fileOf(record.id), JSON.stringify(record, null, 2) + '\n', { mode: 0o600, fsync: true });
    } catch (error) {
      throw explainNoSpace(error, this.fileOf(record.id));
    }
  }

  remove(id: string): void {
    fs.rmSync(path.join(this.dir, id), { recursive: true, force: true });
  }
}
