/**
 * The image records: <root>/images.json, one record per image name (name -> manifest digest,
 * config, layers, chain ID; not to be confused with an OCI image index, the multi-platform
 * manifest list). Its own module, light on purpose: `conman run IMAGE` asks "is it
 * here?" before anything else, and should not load the whole store (content store, snapshots,
 * node:crypto) to know.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';
import { withFileLock } from '#lower/04-manager/root-lock.ts';
import type { Descriptor } from './content-store.ts';
import { formatReference, parseReference } from './reference.ts';

export interface ImageRecord {
  /** The normalised reference: "127.0.0.1:5000/test/busybox:1.36". */
  name: string;
  /** The digest the name resolved to (an index's, when the registry has one). */
  digest: string;
  /** The platform's manifest (the same as `digest` without an index). */
  manifest: string;
  config: string;
  layers: Descriptor[];
  diffIds: string[];
  /** The top snapshot: the container's rootfs is an overlay of this chain. */
  chainId: string;
  platform: string;
  /** Compressed size of the layers, in bytes. */
  size: number;
  pulledAt: string;
}

export class ImageRecords {
  private readonly recordsFile: string;

  /** `root`: the image store's folder (<manager root>/images). */
  constructor(readonly root: string) {
    this.recordsFile = path.join(root, 'images.json');
  }

  list(): ImageRecord[] {
    try {
      return JSON.parse(fs.readFileSync(this.recordsFile, 'utf8')) as ImageRecord[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /**
   * Change the records: read, change, write, under a lock (two pulls finishing at once would
   * each write the list they read, and one image would be lost).
   */
  async update(change: (records: ImageRecord[]) => ImageRecord[]): Promise<void> {
    await withFileLock(`${this.recordsFile}.lock`, async () => {
      writeFileAtomic(this.recordsFile, JSON.stringify(change(this.list()), null, 2) + '\n', { fsync: true });
    });
  }

  /** An image by name ("busybox:1.36" is docker.io/library/busybox:1.36), full digest or a digest prefix of 12+. */
  find(text: string): ImageRecord | undefined {
    const records = this.list();
    const hex = text.replace(/^sha256:/, '');
    if (/^[a-f0-9]{12,64}$/.test(hex)) {
      const byId = records.find((r) => r.config.slice(7).startsWith(hex) || r.digest.slice(7).startsWith(hex));
      if (byId) return byId;
    }
    try {
      const name = formatReference(parseReference(text));
      return records.find((r) => r.name === name);
    } catch {
      return undefined;
    }
  }
}
