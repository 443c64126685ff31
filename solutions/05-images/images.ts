/**
 * The image service: pull, list, remove, prune, and a rootfs for a container. It ties the
 * pieces together the way containerd's client.Pull does (resolve -> fetch -> unpack), and
 * keeps one record per image name:
 *
 *   <root>/images.json     name -> manifest digest, config, layers, chain ID (image-records.ts)
 *   <root>/content/        the content store (content-store.ts)
 *   <root>/snapshots/, <root>/active/   the snapshotter (snapshots.ts)
 *
 * Blobs and snapshots are shared between images; rmi removes a name, then a garbage
 * collection removes what no remaining image and no container uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { withFileLock } from '#lower/04-manager/root-lock.ts';
import { ContentStore, type Descriptor } from './content-store.ts';
import { ImageRecords, type ImageRecord } from './image-records.ts';
import type { ImageConfig } from './image-config.ts';
import { scaled } from '#lib/slow.ts';
import { familiarName, formatReference, parseReference, type Reference } from './reference.ts';
import type { ImageIndex, ImageManifest, RegistryClient, RegistryOptions } from './registry.ts';
import { chainIds, Snapshotter } from './snapshots.ts';

/**
 * The registry client, loaded by a pull only: it is most of the store's code (undici), and
 * `conman images`, or `conman run` of an image that is here, never needs it.
 */
const registryModule = () => import('./registry.ts');

/** Layers downloaded at once (docker and containerd use 3 too). */
export type { ImageRecord };

export const PARALLEL_DOWNLOADS = 3;

export interface PullProgress {
  /** "resolve", a layer's short digest, or "unpack". */
  id: string;
  status: 'resolved' | 'exists' | 'downloading' | 'downloaded' | 'unpacked';
  current?: number;
  total?: number;
}

/** Run `fn` over `items`, `limit` at a time; rejects with the first failure (after the others settle). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  });
  const settled = await Promise.allSettled(workers);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return results;
}

/** rmi of an image a container uses (dockerd answers 409 Conflict). */
export class ImageInUseError extends Error {
  readonly status = 409;
  constructor(message: string) {
    super(message);
    this.name = 'ImageInUseError';
  }
}

export class ImageStore {
  readonly content: ContentStore;
  readonly snapshots: Snapshotter;
  /** images.json (image-records.ts). */
  readonly records: ImageRecords;
  /** Pulls hold it shared, a prune exclusive. */
  private readonly gcLock: string;

  constructor(
    readonly root: string,
    readonly registryOptions: RegistryOptions = {},
  ) {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    this.content = new ContentStore(path.join(root, 'content'));
    this.snapshots = new Snapshotter(root);
    this.records = new ImageRecords(root);
    this.gcLock = path.join(root, 'gc.lock');
  }

  list(): ImageRecord[] {
    return this.records.list();
  }

  /** An image by name ("busybox:1.36" is docker.io/library/busybox:1.36), full digest or a digest prefix of 12+. */
  find(text: string): ImageRecord | undefined {
    return this.records.find(text);
  }

  /**
   * Resolve, download (verified, 3 layers at a time), unpack, record. `timeoutMs` bounds the
   * whole pull (default 10 minutes, scaled): past it, the connections are dropped and the
   * pull fails saying so.
   */
  async pull(text: string, options: { onProgress?: (event: PullProgress) => void; timeoutMs?: number; credentials?: { username: string; password: string } } = {}): Promise<ImageRecord> {
    const ref = parseReference(text);
    const { RegistryClient, RegistryError } = await registryModule();
    const client = new RegistryClient({ ...this.registryOptions, ...(options.credentials ? { credentials: options.credentials } : {}) });
    const timeoutMs = options.timeoutMs ?? scaled(600_000);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new RegistryError(`timed out: pulling ${formatReference(ref)} took more than ${Math.round(timeoutMs / 1000)} s`));
        void client.close();
      }, timeoutMs);
    });
    try {
      // Shared with other pulls, exclusive with a prune: what a pull has downloaded and not
      // recorded yet belongs to no image, and a prune running meanwhile would delete it.
      const pulling = withFileLock(this.gcLock, () => this.pullWith(client, ref, options.onProgress ?? (() => {})), { shared: true });
      return await Promise.race([pulling, deadline]);
    } finally {
      clearTimeout(timer);
      await client.close();
    }
  }

  private async pullWith(client: RegistryClient, ref: Reference, onProgress: (event: PullProgress) => void): Promise<ImageRecord> {
    const { formatPlatform, RegistryError, selectPlatform } = await registryModule();
    const top = await client.resolve(ref);
    await this.content.put(top.bytes, { digest: top.digest, size: top.bytes.length }, `manifest of ${formatReference(ref)}`);
    let manifestDigest = top.digest;
    let manifestBytes = top.bytes;
    if (top.kind === 'index') {
      const chosen = selectPlatform(JSON.parse(top.bytes.toString('utf8')) as ImageIndex, client.platform);
      const manifest = await client.fetchManifest(top.endpoint, ref, chosen.digest, chosen.digest);
      if (manifest.kind !== 'manifest') throw new RegistryError(`${formatReference(ref)}: the index entry ${chosen.digest} is not an image manifest`);
      await this.content.put(manifest.bytes, { digest: manifest.digest, size: manifest.bytes.length }, `manifest ${chosen.digest}`);
      manifestDigest = manifest.digest;
      manifestBytes = manifest.bytes;
    }
    onProgress({ id: 'resolve', status: 'resolved' });
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
    if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw new RegistryError(`${formatReference(ref)}: manifest ${manifestDigest} has no config or no layers`);

    await client.fetchBlob(top.endpoint, ref, manifest.config, this.content);
    const config = await this.content.readJson<ImageConfig>(manifest.config.digest);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new RegistryError(`${formatReference(ref)}: the manifest has ${manifest.layers.length} layers but the config lists ${diffIds.length} diff IDs`);
    }

    await mapLimit(manifest.layers, PARALLEL_DOWNLOADS, async (layer) => {
      const id = layer.digest.slice(7, 19);
      if (this.content.has(layer.digest, layer.size)) return onProgress({ id, status: 'exists', total: layer.size });
      await client.fetchBlob(top.endpoint, ref, layer, this.content, (current) => onProgress({ id, status: 'downloading', current, total: layer.size }));
      onProgress({ id, status: 'downloaded', current: layer.size, total: layer.size });
    });

    const chainId = await this.snapshots.prepare(
      manifest.layers.map((layer, i) => ({ blob: this.content.blobPath(layer.digest), diffId: diffIds[i], mediaType: layer.mediaType })),
      (i) => onProgress({ id: manifest.layers[i].digest.slice(7, 19), status: 'unpacked' }),
    );

    const record: ImageRecord = {
      name: formatReference(ref),
      digest: top.digest,
      manifest: manifestDigest,
      config: manifest.config.digest,
      layers: manifest.layers,
      diffIds,
      chainId,
      platform: formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant }),
      size: manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
      pulledAt: new Date().toISOString(),
    };
    await this.records.update((records) => [...records.filter((r) => r.name !== record.name), record]);
    return record;
  }

  async config(record: ImageRecord): Promise<ImageConfig> {
    return this.content.readJson<ImageConfig>(record.config);
  }

  /** The short name for listings ("busybox:1.36"). */
  displayName(record: ImageRecord): string {
    return familiarName(parseReference(record.name));
  }

  /**
   * Remove an image name; its blobs and snapshots go once nothing else uses them. An image a
   * container runs from is refused unless `force` (the container keeps its snapshots).
   */
  async remove(text: string, options: { force?: boolean } = {}): Promise<{ untagged: string; deleted: string[] }> {
    const record = this.find(text);
    if (!record) throw new Error(`no image "${text}" here: conman images lists them`);
    const users = this.containersUsing(record);
    if (!options.force && users.includes(this.mountName(record))) {
      throw new ImageInUseError(`image ${this.displayName(record)} is mounted: conman image unmount ${this.displayName(record)} first`);
    }
    if (!options.force && users.length > 0) {
      throw new ImageInUseError(`image ${this.displayName(record)} is used by a container (${users.map((id) => id.slice(0, 12)).join(', ')}): remove the container first (conman rm), or rmi -f`);
    }
    await this.records.update((records) => records.filter((r) => r.name !== record.name));
    return { untagged: record.name, deleted: await this.prune() };
  }

  /** Remove blobs and snapshots no image and no container uses; returns what went. */
  async prune(): Promise<string[]> {
    return withFileLock(this.gcLock, () => this.pruneLocked());
  }

  private async pruneLocked(): Promise<string[]> {
    const records = this.list();
    const blobs = new Set<string>();
    const chains = new Set<string>();
    for (const r of records) {
      for (const digest of [r.digest, r.manifest, r.config, ...r.layers.map((l) => l.digest)]) blobs.add(digest);
      for (const id of chainIds(r.diffIds)) chains.add(id);
    }
    return [...(await this.content.garbageCollect(blobs)), ...(await this.snapshots.garbageCollect(chains))];
  }

  /** A container's writable rootfs from an image (an overlay mount); undone by snapshots.removeContainer(id). */
  async mountContainer(id: string, record: ImageRecord, dir?: string): Promise<string> {
    return this.snapshots.mountContainer(id, record.chainId, dir);
  }

  /** The names of the containers that use `record` (their rootfs is made of its snapshots). */
  /** The name of an image's read-only mount in the snapshotter's active folder. */
  private mountName(record: ImageRecord): string {
    return `image-${record.config.slice(7, 19)}`;
  }

  /** Mount an image's layers read-only (podman's `image mount`); returns the path. Mounting twice gives the same path. */
  async mount(text: string): Promise<string> {
    const record = this.find(text);
    if (!record) throw new Error(`no image "${text}" here: conman images lists them`);
    return this.snapshots.mountReadOnly(this.mountName(record), record.chainId);
  }

  /** Undo mount(); not mounted is fine. */
  async unmount(text: string): Promise<void> {
    const record = this.find(text);
    if (!record) throw new Error(`no image "${text}" here: conman images lists them`);
    await this.snapshots.removeContainer(this.mountName(record));
  }

  /** The containers (and read-only mounts, "image-...") whose rootfs uses the image's layers. */
  containersUsing(record: ImageRecord): string[] {
    return this.snapshots.containersOf(record.chainId);
  }
}
