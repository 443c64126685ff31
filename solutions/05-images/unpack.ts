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
 *     umask plays no part); devices are skipped (a container gets its /dev from the runtime);
 *   - extended attributes (PAX SCHILY.xattr.* records: file capabilities, SELinux labels...) are
 *     set on the open file or on the resolved name (never through a symlink), in the user.,
 *     security. and trusted. namespaces only, never overlayfs's own (trusted.overlay.*), and a
 *     PAX header that node-tar would read differently from other tar readers is refused.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { Parser, type ReadEntry } from 'tar';
import { checkXattr, LayerTap, MAX_META_SIZE, type TappedEntry } from './layer-tap.ts';
import { UnsafeLayerError } from './unsafe-layer.ts';
import { setXattr } from './xattrs.ts';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
/** Symlinks followed while resolving one path, as Linux's own limit (ELOOP). */
const MAX_SYMLINKS = 40;

/** The errors applyLayer reports as they are: a refusal of ours, or an unfinished exercise. */
const OUR_ERRORS = ['UnsafeLayerError', 'NotImplementedError'];

export { UnsafeLayerError };

export interface ApplyStats {
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  whiteouts: number;
  /** Devices, FIFOs and unknown entry types: not created. */
  skipped: number;
  /** Extended attributes set (PAX SCHILY.xattr.* records). */
  xattrs: number;
  /** Extended attributes not set, each for a reason of checkXattr's or the kernel's ENOTSUP. */
  xattrsSkipped: number;
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
  const pending = relative.split('/').filter((part) => part !== '' && part !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const isLast = pending.length === 0;
    const candidate = path.join(root, ...resolved, part);
    let stat: fs.Stats | undefined;
    try {
      stat = await fsp.lstat(candidate);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (stat?.isSymbolicLink() && (!isLast || options.followLast)) {
      if (++links > MAX_SYMLINKS) throw new UnsafeLayerError(`${relative}: too many levels of symbolic links`);
      const target = await fsp.readlink(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    if (!isLast) {
      if (!stat) {
        if (!options.createParents) throw Object.assign(new Error(`${relative}: ${path.join(...resolved, part)} does not exist`), { code: 'ENOENT' });
        await fsp.mkdir(candidate, { mode: 0o755 });
        await fsp.chmod(candidate, 0o755);
      } else if (!stat.isDirectory()) {
        throw new UnsafeLayerError(`${relative}: ${path.join(...resolved, part)} is not a directory`);
      }
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
  // END EXERCISE
}

// ------------------------------------------------------------------------------------------
/**
 * Applies entries one at a time onto `target`. The calls on one entry are synchronous (open,
 * write, fchown, fchmod, futimes, close): each is a few microseconds in the kernel, where an
 * awaited fs/promises call costs a trip through libuv's thread pool and back, more than the call
 * itself for the small files most layers are made of. The event loop still turns between
 * entries, as the decompressed stream comes in.
 */
class LayerApplier {
  readonly stats: Omit<ApplyStats, 'diffId'> = { entries: 0, files: 0, directories: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, skipped: 0, xattrs: 0, xattrsSkipped: 0 };
  /** Paths this layer made (and their parents): an opaque whiteout spares them. */
  private readonly fromThisLayer = new Set<string>(['.']);
  /** Folders get their times last: creating a file inside changes its folder's mtime. */
  private readonly folderTimes: { file: string; mtime: Date }[] = [];
  /**
   * Folders already resolved inside the target (relative name -> host path, every part checked:
   * symlinks followed inside the target, a real folder at the end), so that the files of a folder
   * do not walk the whole path again (an lstat per part). A name resolves otherwise only when
   * something on its way goes: forgotten whenever this layer removes a folder or a symlink.
   */
  private readonly folders = new Map<string, string>();

  constructor(readonly target: string) {}

  private remember(relative: string): void {
    for (let p = relative; p !== '.' && !this.fromThisLayer.has(p); p = path.posix.dirname(p)) this.fromThisLayer.add(p);
  }

  /** Apply one entry, with the xattrs its PAX header gave it (LayerTap read them). */
  async apply(entry: ReadEntry, xattrs?: Map<string, Buffer>): Promise<void> {
    this.stats.entries++;
    const relative = entryPath(entry.path);
    const base = path.posix.basename(relative);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      entry.resume();
      this.folders.clear(); // a whiteout removes folders and links
      await this.whiteout(relative);
      return;
    }
    switch (entry.type) {
      case 'Directory':
        return this.directory(relative, entry, xattrs);
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        return this.file(relative, entry, xattrs);
      case 'SymbolicLink':
        return this.symlink(relative, entry, xattrs);
      case 'Link':
        return this.hardlink(relative, entry, xattrs);
      default:
        // CharacterDevice, BlockDevice, FIFO...: the runtime gives a container its /dev.
        this.stats.skipped++;
        entry.resume();
    }
  }

  /**
   * Set an entry's xattrs on `target`: the descriptor of the file we hold open, or a name already
   * resolved inside the image, through lsetxattr (a symlink there gets the attribute itself, never
   * what it points at). Called after chown, which drops security.capability (as a write does),
   * and before chmod, as containerd orders them. On a symlink, user.* is skipped: Linux takes
   * user.* on files and folders only (EPERM), and containerd skips it the same way; security.*
   * and trusted.* are set (an SELinux label belongs on a link too). A filesystem that has no such
   * namespace (ENOTSUP): skipped, as containerd does; any other refusal of the kernel (EINVAL for
   * a malformed capability set, ENOSPC when the filesystem has no room left for xattrs) fails the layer.
   */
  private setXattrs(target: number | string, entry: ReadEntry, xattrs: Map<string, Buffer> | undefined, isSymlink = false): void {
    if (!xattrs) return;
    const where = `entry "${entry.path}"`;
    for (const [name, value] of xattrs) {
      if (checkXattr(name, value, where) !== undefined || (isSymlink && name.startsWith('user.'))) {
        this.stats.xattrsSkipped++;
        continue;
      }
      try {
        setXattr(target, name, value);
        this.stats.xattrs++;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
          this.stats.xattrsSkipped++;
          continue;
        }
        throw new Error(`${where}: setting xattr ${name} (${value.length} bytes) failed: ${code ?? (error as Error).message}`);
      }
    }
  }

  /** Remove whatever is at `file` (never following a symlink), to put a new entry there. */
  private replace(file: string, keepDirectory: boolean): void {
    const stat = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!stat) return;
    if (keepDirectory && stat.isDirectory()) return;
    if (stat.isDirectory() || stat.isSymbolicLink()) this.folders.clear();
    fs.rmSync(file, { recursive: true, force: true });
  }

  /**
   * Where `relative` goes: resolveInRoot(target, relative, { createParents: true }), the same
   * rules, with the folder it is in remembered (its last part is never followed, so the entry
   * itself is the caller's to create or replace).
   */
  private async locate(relative: string): Promise<string> {
    const parent = path.posix.dirname(relative);
    const folder = parent === '.' ? this.target : this.folders.get(parent);
    if (folder !== undefined) return path.join(folder, path.posix.basename(relative));
    const resolved = await resolveInRoot(this.target, relative, { createParents: true });
    // Every part before the last was walked: the folder the entry is in, resolved.
    this.folders.set(parent, path.dirname(resolved));
    return resolved;
  }

  /**
   * Create `file` with O_CREAT|O_EXCL ("wx"): it fails rather than open anything already at that
   * name (a symlink, a hard link to a file below); then what was there is removed, and again.
   */
  private createFile(file: string): number {
    try {
      return fs.openSync(file, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    this.replace(file, false);
    return fs.openSync(file, 'wx', 0o600);
  }

  /** The entry's body into `fd`, written as it arrives. */
  private writeBody(entry: ReadEntry, fd: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let failed = false;
      entry.on('data', (chunk: Buffer) => {
        if (failed) return; // the rest goes nowhere: `fd` is closed (and its number may be reused)
        try {
          for (let done = 0; done < chunk.length; ) done += fs.writeSync(fd, chunk, done);
        } catch (error) {
          failed = true;
          reject(error);
        }
      });
      entry.once('end', () => resolve());
      entry.once('error', reject);
    });
  }

  private async whiteout(relative: string): Promise<void> {
    // EXERCISE(whiteout): apply a whiteout: ".wh.NAME" deletes NAME, ".wh..wh..opq" empties its folder of what the lower layers had
    // Hints: the folder is resolveInRoot(this.target, path.posix.dirname(relative)), followed
    // all the way (it may not exist: then there is nothing to delete); fs.rm(..., { recursive:
    // true, force: true }) removes a symlink itself, not what it points at. For an opaque
    // folder, spare the children this layer made: this.fromThisLayer has their relative paths.
    this.stats.whiteouts++;
    const dir = path.posix.dirname(relative);
    let folder: string;
    try {
      folder = await resolveInRoot(this.target, dir, { followLast: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const base = path.posix.basename(relative);
    if (base === OPAQUE_WHITEOUT) {
      const stat = await fsp.lstat(folder).catch(() => undefined);
      if (!stat?.isDirectory()) return;
      for (const child of await fsp.readdir(folder)) {
        if (this.fromThisLayer.has(path.posix.join(dir, child))) continue;
        await fsp.rm(path.join(folder, child), { recursive: true, force: true });
      }
      return;
    }
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new UnsafeLayerError(`whiteout "${relative}" names no file`);
    await fsp.rm(path.join(folder, name), { recursive: true, force: true });
    // END EXERCISE
  }

  private async directory(relative: string, entry: ReadEntry, xattrs?: Map<string, Buffer>): Promise<void> {
    entry.resume();
    const dir = relative === '.' ? this.target : await this.locate(relative);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A folder stays (merged with this one); anything else is replaced.
      this.replace(dir, true);
      if (!fs.lstatSync(dir, { throwIfNoEntry: false })) fs.mkdirSync(dir, { mode: 0o700 });
    }
    // lstat once more: what we change must be the folder itself, not a link that replaced it.
    if (!fs.lstatSync(dir).isDirectory()) throw new UnsafeLayerError(`${relative}: not a directory after creating it`);
    fs.lchownSync(dir, entry.uid ?? 0, entry.gid ?? 0);
    this.setXattrs(dir, entry, xattrs);
    fs.chmodSync(dir, (entry.mode ?? 0o755) & 0o7777);
    this.folderTimes.push({ file: dir, mtime: entry.mtime ?? new Date(0) });
    if (relative !== '.') this.folders.set(relative, dir);
    this.remember(relative);
    this.stats.directories++;
  }

  private async file(relative: string, entry: ReadEntry, xattrs?: Map<string, Buffer>): Promise<void> {
    if (relative === '.') throw new UnsafeLayerError(`entry "${entry.path}" would replace the root folder with a file`);
    const file = await this.locate(relative);
    const fd = this.createFile(file);
    try {
      await this.writeBody(entry, fd);
      fs.fchownSync(fd, entry.uid ?? 0, entry.gid ?? 0);
      this.setXattrs(fd, entry, xattrs);
      // After chown, which clears setuid and setgid bits.
      fs.fchmodSync(fd, (entry.mode ?? 0o644) & 0o7777);
      const mtime = entry.mtime ?? new Date(0);
      fs.futimesSync(fd, entry.atime ?? mtime, mtime);
    } finally {
      fs.closeSync(fd);
    }
    this.remember(relative);
    this.stats.files++;
  }

  private async symlink(relative: string, entry: ReadEntry, xattrs?: Map<string, Buffer>): Promise<void> {
    entry.resume();
    if (relative === '.') throw new UnsafeLayerError(`entry "${entry.path}" would replace the root folder with a symlink`);
    if (!entry.linkpath) throw new UnsafeLayerError(`symlink "${entry.path}" has no target`);
    const link = await this.locate(relative);
    this.replace(link, false);
    // The target exactly as the layer wrote it: inside the container, "/etc" is the container's.
    fs.symlinkSync(entry.linkpath, link);
    fs.lchownSync(link, entry.uid ?? 0, entry.gid ?? 0);
    this.setXattrs(link, entry, xattrs, true);
    const mtime = entry.mtime ?? new Date(0);
    fs.lutimesSync(link, mtime, mtime);
    this.remember(relative);
    this.stats.symlinks++;
  }

  private async hardlink(relative: string, entry: ReadEntry, xattrs?: Map<string, Buffer>): Promise<void> {
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
    const link = await this.locate(relative);
    if (link === source) return;
    this.replace(link, false);
    // link(2) does not follow a symlink at `source`: at worst we link the symlink itself.
    fs.linkSync(source, link);
    // The same inode as the target's: its xattrs, as containerd sets them on a link entry too.
    this.setXattrs(link, entry, xattrs, stat.isSymbolicLink());
    this.remember(relative);
    this.stats.hardlinks++;
  }

  finish(): void {
    for (const { file, mtime } of this.folderTimes.reverse()) {
      if (fs.lstatSync(file, { throwIfNoEntry: false })?.isDirectory()) fs.utimesSync(file, mtime, mtime);
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
  const tap = new LayerTap();
  const parser = new Parser({ strict: true, maxMetaEntrySize: MAX_META_SIZE });
  let failure: Error | undefined;
  let chain = Promise.resolve();
  /** The entry being applied: a broken stream must end it too, or its reader waits forever. */
  let current: ReadEntry | undefined;
  const source = fs.createReadStream(layerFile, { highWaterMark: 1024 * 1024 });
  /** The tap's reading of the entry node-tar emits now (in the same order): the same name and type, or the layer is refused. */
  const tapped = (entry: ReadEntry): TappedEntry => {
    const read = tap.entries.shift();
    if (read?.path === entry.path && read.type === entry.type) return read;
    throw new UnsafeLayerError(`entry "${entry.path}" (${entry.type}): node-tar and the PAX reader cut the tar differently (${read ? `"${read.path}" (${read.type})` : 'no entry'} there): layer refused`);
  };
  const fail = (error: Error) => {
    failure ??= error;
    source.destroy(failure);
  };
  // Entries node-tar skips (unknown types): still one of the tap's, in their place.
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    if (entry.meta) return;
    try {
      tapped(entry);
    } catch (error) {
      fail(error as Error);
    }
  });
  parser.on('entry', (entry: ReadEntry) => {
    current = entry;
    let read: TappedEntry | undefined;
    let mismatch: Error | undefined;
    try {
      read = tapped(entry);
    } catch (error) {
      mismatch = error as Error;
    }
    chain = chain.then(async () => {
      if (failure) return void entry.resume();
      try {
        if (mismatch) throw mismatch;
        await applier.apply(entry, read?.xattrs);
      } catch (error) {
        failure ??= error as Error;
        entry.resume();
        source.destroy(failure);
      }
    });
  });
  const decompressor = { gzip: () => [createGunzip({ chunkSize: 256 * 1024 })], zstd: () => [new ZstdDecompress()], none: () => [] }[compression]();
  const stages = [source, ...decompressor, tap, parser];
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
  applier.finish();
  const diffId = `sha256:${tap.hash.digest('hex')}`;
  if (options.expectedDiffId && diffId !== options.expectedDiffId) {
    throw new Error(`layer ${path.basename(layerFile)}: its uncompressed content does not match the image config's diff ID: expected ${options.expectedDiffId}, got ${diffId}`);
  }
  return { ...applier.stats, diffId };
}
