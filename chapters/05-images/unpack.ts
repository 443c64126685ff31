/**
 * Applying a layer: a layer is a tar archive (often gzip-compressed) of what changed in the
 * filesystem: files added or modified, and deletions written as "whiteout" entries:
 *
 *   dir/.wh.name       `dir/name` was deleted (in this layer, from the layers below)
 *   dir/.wh..wh..opq   `dir` is opaque: everything the layers below had in it is hidden
 *
 * applyLayer() replays one layer onto a directory (for an overlay snapshot: the merged view of
 * the layers below with a fresh upper directory, so a deletion becomes overlay's own whiteout).
 *
 * A layer comes from a stranger, and unpacking is where pullers have been broken again and
 * again (docker CVE-2014-6407 and CVE-2014-9356: writing through hard links, symlinks and
 * absolute names in a pulled image; containerd CVE-2021-32760: a chmod that followed a
 * symlink to a host file; node-tar CVE-2021-32803/32804 and CVE-2021-37701/37712/37713: its
 * own symlink and absolute-path checks fooled), so the rules here are strict and explicit:
 *   - an entry whose name climbs out ("../..") is refused: the whole layer fails;
 *   - a name is resolved inside the target, symlinks included: a symlink to /etc inside the
 *     layer means <target>/etc, never the host's /etc (what a chroot would do, but in code);
 *   - a file is created fresh (O_EXCL, after removing what was there): never written through
 *     an existing symlink or hard link;
 *   - a symlink is created with the target the layer gave, as written ("/usr/share/zoneinfo/UTC"
 *     stays absolute: node-tar's extract would rewrite it, so entries are applied here, with
 *     node-tar only parsing);
 *   - a hard link must name a file inside the target;
 *   - modes, owners and times are set explicitly (fchmod/fchown on the open file, so the process
 *     umask plays no part); devices are skipped (a container gets its /dev from the runtime).
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { Parser, type ReadEntry } from 'tar';
import { notImplemented } from '#lib/not-implemented.ts';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
/** Symlinks followed while resolving one path, as Linux's own limit (ELOOP). */
const MAX_SYMLINKS = 40;

/** The layer tries to reach outside its target, or is otherwise unsafe: nothing outside was touched. */
/** The errors applyLayer reports as they are: a refusal of ours, or an unfinished exercise. */
const OUR_ERRORS = ['UnsafeLayerError', 'NotImplementedError'];

export class UnsafeLayerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeLayerError';
  }
}

export interface ApplyStats {
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  whiteouts: number;
  /** Devices, FIFOs and unknown entry types: not created. */
  skipped: number;
  /** sha256 of the uncompressed tar: the layer's "diff ID" (the image config lists them). */
  diffId: string;
}

export type Compression = 'gzip' | 'zstd' | 'none';

/** What the first bytes of a layer say: gzip (1f 8b), zstd (28 b5 2f fd) or a plain tar. */
export async function detectCompression(file: string): Promise<Compression> {
  const handle = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await handle.close();
  }
}

/**
 * zstd, as a stream. Node 20's zlib has no zstd (it came in Node 23), so the decoder is fzstd, a
 * small zstd decompressor in plain JavaScript; slower than a native one, and as streaming:
 * memory holds the frame's window, not the layer.
 */
class ZstdDecompress extends Transform {
  private readonly decoder = new Decompress((data) => this.push(Buffer.from(data)));

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.decoder.push(chunk);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      done();
    } catch (error) {
      done(error as Error);
    }
  }
}

/**
 * The name of an entry, made relative to the target and normalised: "./usr/bin/../lib" ->
 * "usr/lib", "/etc/passwd" -> "etc/passwd", "./" -> ".". A name that climbs above the
 * target ("../x", "a/../../x") is refused with an UnsafeLayerError naming it.
 */
export function entryPath(name: string): string {
  if (name.includes('\0')) throw new UnsafeLayerError(`entry ${JSON.stringify(name)}: a NUL byte in a name`);
  const relative = path.posix.normalize(name.replace(/^\/+/, '') || '.').replace(/\/+$/, '') || '.';
  if (relative === '..' || relative.startsWith('../')) {
    throw new UnsafeLayerError(`entry "${name}" points outside the image (path traversal): layer refused`);
  }
  return relative;
}

/**
 * The host path of `relative` inside `root`, following symlinks as if `root` were "/": an
 * absolute link target starts again at `root`, ".." stops at `root`. The last part is not
 * followed (the caller creates, replaces or deletes that entry itself) unless `followLast`.
 * With `createParents`, missing folders on the way are made (mode 0755, root-owned).
 */
export async function resolveInRoot(root: string, relative: string, options: { followLast?: boolean; createParents?: boolean } = {}): Promise<string> {
  // EXERCISE(resolve-in-root): walk the path part by part under root; follow symlinks as if root were "/", never above it
  // Hints: keep a stack of resolved parts (the current folder is root + stack); for each
  // part: "." is nothing, ".." pops (never below root); lstat root/stack/part; a symlink
  // (not the last part, unless followLast) puts its target's parts in front of the remaining
  // ones, and an absolute target empties the stack first. Count the links: more than
  // MAX_SYMLINKS is a loop.
  throw notImplemented("05-images/resolve-in-root", "walk the path part by part under root; follow symlinks as if root were \"/\", never above it");
  // END EXERCISE
}

/** Hashes what flows through: the uncompressed tar, for the diff ID. */
class HashingStream extends Transform {
  readonly hash: Hash = createHash('sha256');
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

/** Applies entries one at a time onto `target`. */
class LayerApplier {
  readonly stats: Omit<ApplyStats, 'diffId'> = { entries: 0, files: 0, directories: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, skipped: 0 };
  /** Paths this layer made (and their parents): an opaque whiteout spares them. */
  private readonly fromThisLayer = new Set<string>(['.']);
  /** Folders get their times last: creating a file inside changes its folder's mtime. */
  private readonly folderTimes: { file: string; mtime: Date }[] = [];

  constructor(readonly target: string) {}

  private remember(relative: string): void {
    for (let p = relative; p !== '.' && !this.fromThisLayer.has(p); p = path.posix.dirname(p)) this.fromThisLayer.add(p);
  }

  async apply(entry: ReadEntry): Promise<void> {
    this.stats.entries++;
    const relative = entryPath(entry.path);
    const base = path.posix.basename(relative);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      entry.resume();
      await this.whiteout(relative);
      return;
    }
    switch (entry.type) {
      case 'Directory':
        return this.directory(relative, entry);
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        return this.file(relative, entry);
      case 'SymbolicLink':
        return this.symlink(relative, entry);
      case 'Link':
        return this.hardlink(relative, entry);
      default:
        // CharacterDevice, BlockDevice, FIFO...: the runtime gives a container its /dev.
        this.stats.skipped++;
        entry.resume();
    }
  }

  /** Remove whatever is at `file` (never following a symlink), to put a new entry there. */
  private async replace(file: string, keepDirectory: boolean): Promise<void> {
    const stat = await fsp.lstat(file).catch(() => undefined);
    if (!stat) return;
    if (keepDirectory && stat.isDirectory()) return;
    await fsp.rm(file, { recursive: true, force: true });
  }

  private async whiteout(relative: string): Promise<void> {
    // EXERCISE(whiteout): apply a whiteout: ".wh.NAME" deletes NAME, ".wh..wh..opq" empties its folder of what the lower layers had
    // Hints: the folder is resolveInRoot(this.target, path.posix.dirname(relative)), followed
    // all the way (it may not exist: then there is nothing to delete); fs.rm(..., { recursive:
    // true, force: true }) removes a symlink itself, not what it points at. For an opaque
    // folder, spare the children this layer made: this.fromThisLayer has their relative paths.
    throw notImplemented("05-images/whiteout", "apply a whiteout: \".wh.NAME\" deletes NAME, \".wh..wh..opq\" empties its folder of what the lower layers had");
    // END EXERCISE
  }

  private async directory(relative: string, entry: ReadEntry): Promise<void> {
    entry.resume();
    const dir = relative === '.' ? this.target : await resolveInRoot(this.target, relative, { createParents: true });
    await this.replace(dir, true);
    await fsp.mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    // lstat once more: what we change must be the folder itself, not a link that replaced it.
    if (!(await fsp.lstat(dir)).isDirectory()) throw new UnsafeLayerError(`${relative}: not a directory after creating it`);
    await fsp.lchown(dir, entry.uid ?? 0, entry.gid ?? 0);
    await fsp.chmod(dir, (entry.mode ?? 0o755) & 0o7777);
    this.folderTimes.push({ file: dir, mtime: entry.mtime ?? new Date(0) });
    this.remember(relative);
    this.stats.directories++;
  }

  private async file(relative: string, entry: ReadEntry): Promise<void> {
    if (relative === '.') throw new UnsafeLayerError(`entry "${entry.path}" would replace the root folder with a file`);
    const file = await resolveInRoot(this.target, relative, { createParents: true });
    await this.replace(file, false);
    // "wx": O_CREAT|O_EXCL: fails rather than follow anything that appeared at that name.
    const handle = await fsp.open(file, 'wx', 0o600);
    try {
      for await (const chunk of entry) await handle.write(chunk as Buffer);
      await handle.chown(entry.uid ?? 0, entry.gid ?? 0);
      // After chown, which clears setuid and setgid bits.
      await handle.chmod((entry.mode ?? 0o644) & 0o7777);
      const mtime = entry.mtime ?? new Date(0);
      await handle.utimes(entry.atime ?? mtime, mtime);
    } finally {
      await handle.close();
    }
    this.remember(relative);
    this.stats.files++;
  }

  private async symlink(relative: string, entry: ReadEntry): Promise<void> {
    entry.resume();
    if (relative === '.') throw new UnsafeLayerError(`entry "${entry.path}" would replace the root folder with a symlink`);
    if (!entry.linkpath) throw new UnsafeLayerError(`symlink "${entry.path}" has no target`);
    const link = await resolveInRoot(this.target, relative, { createParents: true });
    await this.replace(link, false);
    // The target exactly as the layer wrote it: inside the container, "/etc" is the container's.
    await fsp.symlink(entry.linkpath, link);
    await fsp.lchown(link, entry.uid ?? 0, entry.gid ?? 0);
    const mtime = entry.mtime ?? new Date(0);
    await fsp.lutimes(link, mtime, mtime);
    this.remember(relative);
    this.stats.symlinks++;
  }

  private async hardlink(relative: string, entry: ReadEntry): Promise<void> {
    entry.resume();
    if (relative === '.') throw new UnsafeLayerError(`entry "${entry.path}" would replace the root folder with a link`);
    if (!entry.linkpath) throw new UnsafeLayerError(`hard link "${entry.path}" has no target`);
    let source: string;
    try {
      // The link's target is a name in the image too: the same rules, resolved inside the target.
      source = await resolveInRoot(this.target, entryPath(entry.linkpath));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UnsafeLayerError(`hard link "${entry.path}" -> "${entry.linkpath}": the target is not in the image`);
      throw error;
    }
    const stat = await fsp.lstat(source).catch(() => undefined);
    if (!stat) throw new UnsafeLayerError(`hard link "${entry.path}" -> "${entry.linkpath}": the target is not in the image`);
    if (stat.isDirectory()) throw new UnsafeLayerError(`hard link "${entry.path}" -> "${entry.linkpath}": a directory cannot be hard-linked`);
    const link = await resolveInRoot(this.target, relative, { createParents: true });
    if (link === source) return;
    await this.replace(link, false);
    // link(2) does not follow a symlink at `source`: at worst we link the symlink itself.
    await fsp.link(source, link);
    this.remember(relative);
    this.stats.hardlinks++;
  }

  async finish(): Promise<void> {
    for (const { file, mtime } of this.folderTimes.reverse()) {
      if ((await fsp.lstat(file).catch(() => undefined))?.isDirectory()) await fsp.utimes(file, mtime, mtime);
    }
  }
}

/**
 * Apply the layer in `layerFile` (gzip, zstd or plain tar) onto `target`, entry by entry, streaming:
 * memory stays small whatever the layer's size. Throws an UnsafeLayerError for a hostile
 * entry (the caller removes the half-applied snapshot), and an Error when `expectedDiffId`
 * (from the image config) differs from the sha256 of the uncompressed tar.
 */
export async function applyLayer(layerFile: string, target: string, options: { expectedDiffId?: string; mediaType?: string } = {}): Promise<ApplyStats> {
  const compression = await detectCompression(layerFile);
  const applier = new LayerApplier(target);
  const hashing = new HashingStream();
  const parser = new Parser({ strict: true });
  let failure: Error | undefined;
  let chain = Promise.resolve();
  /** The entry being applied: a broken stream must end it too, or its reader waits forever. */
  let current: ReadEntry | undefined;
  const source = fs.createReadStream(layerFile);
  parser.on('entry', (entry: ReadEntry) => {
    current = entry;
    chain = chain.then(async () => {
      if (failure) return void entry.resume();
      try {
        await applier.apply(entry);
      } catch (error) {
        failure ??= error as Error;
        entry.resume();
        source.destroy(failure);
      }
    });
  });
  const decompressor = { gzip: () => [createGunzip()], zstd: () => [new ZstdDecompress()], none: () => [] }[compression]();
  const stages = [source, ...decompressor, hashing, parser];
  try {
    await pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
  } catch (error) {
    // Our own refusal (or an unfinished exercise) stopped the stream: say that, not "invalid tar".
    // Anything else is the layer's fault, whatever its class: a decoder fed garbage may throw a
    // RangeError (fzstd: "Invalid typed array length"), and that is still a broken layer.
    const ours = failure ?? (OUR_ERRORS.includes((error as Error).name) ? (error as Error) : undefined);
    const broken = ours ?? new Error(`layer ${path.basename(layerFile)} is not a valid ${compression === 'none' ? '' : `${compression}-compressed `}tar: ${(error as Error).message}`);
    // A truncated stream leaves the entry being read without an end: end it with the error.
    if (current && !current.emittedEnd) current.destroy(broken);
    await chain;
    throw failure ?? broken;
  }
  await chain;
  if (failure) throw failure;
  await applier.finish();
  const diffId = `sha256:${hashing.hash.digest('hex')}`;
  if (options.expectedDiffId && diffId !== options.expectedDiffId) {
    throw new Error(`layer ${path.basename(layerFile)}: its uncompressed content does not match the image config's diff ID: expected ${options.expectedDiffId}, got ${diffId}`);
  }
  return { ...applier.stats, diffId };
}
