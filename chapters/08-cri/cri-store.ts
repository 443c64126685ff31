/**
 * What Kubernetes says about its pods and containers that the manager has no field for: the
 * metadata (name, namespace, uid, attempt), labels, annotations, the log path. kubelet finds
 * its own objects again by these (after its restart it lists sandboxes and containers and
 * reads their labels), so they must outlive conmand. One JSON file per object, written
 * atomically, under <root>/cri/. cri-o keeps the same facts in the container's annotations.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';
import type { Labels, PodSandboxMetadata } from './cri-proto.ts';

export interface SandboxMeta {
  id: string;
  metadata: PodSandboxMetadata;
  labels: Labels;
  annotations: Labels;
  logDirectory: string;
  runtimeHandler: string;
  createdAt: string;
  /** The pod's sysctls (net.*, kernel.shm*...): written by runc into each container's namespaces, which are the pod's. */
  sysctls?: Labels;
}

export interface ContainerMeta {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  labels: Labels;
  annotations: Labels;
  /** Where kubelet reads the log: log_directory (the sandbox's) + log_path (the container's). */
  logPath: string;
  /** The image as asked, and the id it resolved to. */
  image: string;
  imageRef: string;
  createdAt: string;
  /** As asked: ContainerStatus gives them back (crictl inspect shows them). */
  mounts?: object[];
  /** Its linux resources as asked, or as UpdateContainerResources changed them. */
  resources?: object | null;
}

class JsonFolder<T extends { id: string }> {
  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  put(value: T): void {
    writeFileAtomic(path.join(this.dir, `${value.id}.json`), JSON.stringify(value));
  }

  get(id: string): T | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, `${id}.json`), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  remove(id: string): void {
    fs.rmSync(path.join(this.dir, `${id}.json`), { force: true });
  }

  list(): T[] {
    return fs
      .readdirSync(this.dir)
      .filter((name) => name.endsWith('.json'))
      .flatMap((name) => this.get(name.slice(0, -5)) ?? []);
  }
}

export class CriStore {
  readonly sandboxes: JsonFolder<SandboxMeta>;
  readonly containers: JsonFolder<ContainerMeta>;

  /** `root`: the manager's root. */
  constructor(root: string) {
    this.sandboxes = new JsonFolder(path.join(root, 'cri', 'sandboxes'));
    this.containers = new JsonFolder(path.join(root, 'cri', 'containers'));
  }
}
