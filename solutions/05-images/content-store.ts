/**
 * The content store: every blob (manifest, config, layer) kept once, under its digest,
 * as containerd's content store does (/var/lib/containerd/io.containerd.content.v1.content):
 *
 *   <root>/blobs/sha256/<hex>        complete, verified blobs; read-only once there
 *   <root>/ingest/<hex>.partial      a download in progress (kept across a broken connection,
 *                                    so the next attempt resumes it with an HTTP Range)
 *
 * A blob reaches blobs/ only through ingest(): its bytes are hashed and counted as they
 * arrive, flushed (fsync) and renamed into place, so a reader never sees half a blob and a
 * blob under a digest always has that digest. Images share blobs: busybox:1.36 and
 * busybox:latest with the same layer store it once; garbageCollect() removes what no image
 * refers to any more.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { withFileLock } from '#lower/04-manager/root-lock.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  /** Only in an index: the platform of the manifest it points at. */
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

const DIGEST = /^sha256:([a-f0-9]{64})$/;

/** The bytes did not match the digest or size their descriptor promised: nothing of them is kept. */
export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    what: string,
  ) {
    super(`${what}: content does not match its digest: expected ${expected}, got ${actual}; nothing was kept (a corrupted or tampered registry, or a broken mirror)`);
    this.name = 'DigestMismatchError';
  }
}

export class SizeMismatchError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
    what: string,
  ) {
    super(`${what}: ${actual > expected ? 'more' : 'fewer'} bytes than its descriptor's size: expected ${expected}, got ${actual}${actual > expected ? ' or more' : ''}; nothing was kept`);
    this.name = 'SizeMismatchError';
  }
}

export function hexOf(digest: string): string {
  const match = DIGEST.exec(digest);
  if (!match) throw new Error(`unsupported digest "${digest}": only sha256:<64 lowercase hex digits> is supported`);
  return match[1];
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Check bytes as they stream by: feed every chunk to update() (which refuses, at once, a
 * chunk that would take the total past the expected size, so a lying or endless server
 * cannot fill the disk), then finish() compares the size and the sha256 with the descriptor.
 */
export class DigestVerifier {
  private readonly hash: Hash = createHash('sha256');
  private received = 0;

  constructor(
    readonly expected: { digest: string; size: number },
    readonly what: string,
  ) {
    hexOf(expected.digest);
  }

  get bytes(): number {
    return this.received;
  }

  update(chunk: Uint8Array): void {
    // EXERCISE(verify-digest): count and hash each chunk; refuse more bytes than the descriptor's size
    // Hints: this.hash.update(chunk) and this.received += chunk.length; throw a
    // SizeMismatchError(expected size, the new total, this.what) before hashing a chunk
    // that goes past the size.
    if (this.received + chunk.length > this.expected.size) {
      throw new SizeMismatchError(this.expected.size, this.received + chunk.length, this.what);
    }
    this.hash.update(chunk);
    this.received += chunk.length;
    // END EXERCISE
  }

  /** Throws a SizeMismatchError or a DigestMismatchError (naming both digests) when the content is not what was promised. */
  finish(): void {
    // The size first: a short download is not an attack, just incomplete (it may resume).
    if (this.received !== this.expected.size) throw new SizeMismatchError(this.expected.size, this.received, this.what);
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (actual !== this.expected.digest) throw new DigestMismatchError(this.expected.digest, actual, this.what);
  }
}

/** Where a download resumes: the bytes already there (0 for a fresh one). */
export interface IngestSource {
  /** Open the content from `offset`; answer the offset the source really starts at (0 if it ignored the range). */
  open(offset: number): Promise<{ offset: number; body: AsyncIterable<Uint8Array> }>;
}

export class ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
    fs.mkdirSync(this.blobsDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  blobPath(digest: string): string {
    return path.join(this.blobsDir, hexOf(digest));
  }

  /** A complete blob of that digest (and size, when given) is in the store. */
  has(digest: string, size?: number): boolean {
    try {
      const stat = fs.statSync(this.blobPath(digest));
      return size === undefined || stat.size === size;
    } catch {
      return false;
    }
  }

  async read(digest: string): Promise<Buffer> {
    return fsp.readFile(this.blobPath(digest));
  }

  async readJson<T>(digest: string): Promise<T> {
    return JSON.parse((await this.read(digest)).toString('utf8')) as T;
  }

  /** Store bytes already in memory (a manifest, a config), checked against `expected` when given. */
  async put(bytes: Uint8Array, expected?: { digest: string; size: number }, what = 'blob'): Promise<string> {
    const digest = expected?.digest ?? sha256(bytes);
    await this.ingest({ digest, size: expected?.size ?? bytes.length }, { open: async () => ({ offset: 0, body: (async function* () { yield bytes; })() }) }, what);
    return digest;
  }

  /**
   * Stream a blob into the store, verified as it arrives. A partial file left by an earlier
   * broken attempt is hashed again and the source asked to resume after it. A digest or size
   * mismatch removes the partial file: nothing unverified stays. A failure of the source
   * itself (a cut connection) keeps it for the next attempt.
   */
  async ingest(expected: { digest: string; size: number }, source: IngestSource, what = expected.digest, onProgress?: (bytes: number) => void): Promise<void> {
    if (this.has(expected.digest, expected.size)) return;
    // One writer per blob: a second pull of the same blob waits, then finds it done. (Two
    // writers of one partial file would interleave their bytes: each stream verified, the file not.)
    // (The lock files live apart from the partial downloads, and stay: deleting a lock file that
    // another process waits on would let a third one lock a new file of the same name.)
    await withFileLock(path.join(this.root, 'locks', `${hexOf(expected.digest)}.lock`), () => this.ingestLocked(expected, source, what, onProgress));
  }

  private async ingestLocked(expected: { digest: string; size: number }, source: IngestSource, what: string, onProgress?: (bytes: number) => void): Promise<void> {
    if (this.has(expected.digest, expected.size)) return;
    const partial = path.join(this.ingestDir, `${hexOf(expected.digest)}.partial`);
    let verifier = new DigestVerifier(expected, what);
    let have = await fsp.stat(partial).then((s) => s.size, () => 0);
    if (have > expected.size) {
      await fsp.rm(partial, { force: true });
      have = 0;
    }
    if (have > 0) {
      for await (const chunk of fs.createReadStream(partial)) verifier.update(chunk as Buffer);
    }
    const { offset, body } = await source.open(have);
    if (offset !== have) {
      // The source started elsewhere (a server that ignores Range answers 200 from byte 0).
      verifier = new DigestVerifier(expected, what);
      have = 0;
    }
    const file = await fsp.open(partial, have > 0 ? 'a' : 'w', 0o600);
    try {
      for await (const chunk of body) {
        try {
          verifier.update(chunk);
        } catch (error) {
          await fsp.rm(partial, { force: true });
          throw error;
        }
        await file.write(chunk);
        onProgress?.(verifier.bytes);
      }
      try {
        verifier.finish();
      } catch (error) {
        await fsp.rm(partial, { force: true });
        throw error;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await fsp.chmod(partial, 0o444);
    await fsp.rename(partial, this.blobPath(expected.digest));
  }

  /** Every digest in the store. */
  list(): string[] {
    return fs.readdirSync(this.blobsDir).filter((name) => /^[a-f0-9]{64}$/.test(name)).map((hex) => `sha256:${hex}`);
  }

  /** Remove the blobs not in `keep`, and abandoned partial downloads; returns the digests removed. */
  async garbageCollect(keep: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const digest of this.list()) {
      if (keep.has(digest)) continue;
      await fsp.rm(this.blobPath(digest), { force: true });
      removed.push(digest);
    }
    for (const name of fs.readdirSync(this.ingestDir)) await fsp.rm(path.join(this.ingestDir, name), { force: true });
    // The ingest locks of blobs that are gone (the caller holds the store's gc lock: no pull runs).
    const locks = path.join(this.root, 'locks');
    for (const name of fs.existsSync(locks) ? fs.readdirSync(locks) : []) {
      if (!keep.has(`sha256:${name.replace(/\.lock$/, '')}`)) await fsp.rm(path.join(locks, name), { force: true });
    }
    return removed;
  }
}
