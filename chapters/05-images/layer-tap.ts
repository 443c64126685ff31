/**
 * A layer's tar, read on its way to node-tar: every byte hashed for the diff ID, and the tar's
 * own headers followed for what node-tar drops, the extended attributes (xattrs: file
 * capabilities, SELinux labels). unpack.ts applies the entries node-tar emits, each with the
 * xattrs read here for it.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Header, Pax, type HeaderData } from 'tar';
import { UnsafeLayerError } from './unsafe-layer.ts';
import { XATTR_NAME_MAX, XATTR_SIZE_MAX } from './xattrs.ts';

// Extended attributes. A layer carries them as PAX records "SCHILY.xattr.<name>=<raw bytes>" in
// the extended header ('x') before an entry (GNU tar --xattrs, Go's archive/tar, so docker,
// buildkit and umoci). node-tar drops them: its Pax class keeps a fixed list of keys, and it reads
// a header as UTF-8 text, which raw bytes such as a capability set do not survive. So LayerTap
// reads the headers itself on the way to node-tar.

/** The biggest PAX or long-name header accepted; node-tar's own default limit (it ignores bigger ones: we refuse them). */
export const MAX_META_SIZE = 1024 * 1024;
const PAX_XATTR = 'SCHILY.xattr.';
/** The namespaces an image's xattrs are set in (system.* is the kernel's view of ACLs and the like). */
const XATTR_NAMESPACES = ['user.', 'security.', 'trusted.'];
/** overlayfs's own attributes (opaque folders, redirects, metacopy; user.* with its userxattr option). */
const OVERLAY_XATTRS = ['trusted.overlay.', 'user.overlay.'];
/** The keys node-tar reads from a PAX header (its pax.js); others it ignores, as we do. */
const NODE_TAR_KEYS = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'mode', 'mtime', 'atime', 'ctime', 'uname', 'gname', 'charset', 'comment', 'type', 'dev', 'ino', 'nlink', 'SCHILY.dev', 'SCHILY.ino', 'SCHILY.nlink']);
/** node-tar's types that describe the next entry instead of being one (ReadEntry's `meta`). */
const META_TYPES = new Set(['ExtendedHeader', 'OldExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'OldGnuLongPath', 'NextFileHasLongLinkpath']);

export interface PaxRecord {
  key: string;
  /** Raw bytes: an xattr value is binary (a capability set), other values are UTF-8 text. */
  value: Buffer;
  /** Where the record starts and ends (after its "\n") in the header's body. */
  start: number;
  end: number;
}

/**
 * The records of a PAX extended header, read as POSIX says: "<length> <key>=<value>\n", where
 * <length> counts the whole record in bytes, so a value may hold any byte, "\n" included. A
 * header that breaks that grammar is refused, as Go's archive/tar (and so containerd) refuses it;
 * so is a NUL in a key, or in a path, link path or user name.
 */
export function readPaxRecords(body: Buffer, where: string): PaxRecord[] {
  const records: PaxRecord[] = [];
  for (let start = 0; start < body.length; ) {
    const space = body.indexOf(0x20, start);
    const digits = space === -1 ? '' : body.toString('latin1', start, space);
    const end = start + (/^\d{1,8}$/.test(digits) ? Number(digits) : NaN);
    const equals = space === -1 ? -1 : body.indexOf(0x3d, space + 1);
    const malformed = (why: string) => new UnsafeLayerError(`${where}: malformed PAX record at byte ${start} (${why}): layer refused`);
    if (!(end <= body.length && end > space + 1)) throw malformed('its length does not fit the header');
    if (body[end - 1] !== 0x0a) throw malformed('no newline at its end');
    if (equals === -1 || equals >= end - 1 || equals === space + 1) throw malformed('no key=value');
    const key = body.toString('utf8', space + 1, equals);
    const value = body.subarray(equals + 1, end - 1);
    if (key.includes('\0') || (['path', 'linkpath', 'uname', 'gname'].includes(key) && value.includes(0))) throw malformed('a NUL byte');
    records.push({ key, value, start, end });
    start = end;
  }
  return records;
}

/**
 * node-tar reads a PAX header line by line (pax.js), not by the records' lengths: a value that
 * holds "\n" (xattr values are raw bytes) can show it a record that is not there ("...\n10
 * size=0\n"), and a record of a key it uses that it cannot decode, it drops. Either way node-tar
 * would cut or name the entries otherwise than GNU tar, Go and containerd: one layer, two sets of
 * files (a tar interpretation conflict). Refused.
 */
function checkNodeTarReadsTheSame(body: Buffer, records: PaxRecord[], where: string): void {
  const byStart = new Map(records.map((record) => [record.start, record]));
  const read = new Set<PaxRecord>();
  for (let start = 0; start < body.length; ) {
    const newline = body.indexOf(0x0a, start);
    const end = newline === -1 ? body.length : newline;
    const line = body.toString('utf8', start, end);
    // node-tar's test: the line is a record when its length prefix counts it (and the "\n").
    if (parseInt(line, 10) === Buffer.byteLength(line) + 1) {
      const record = byStart.get(start);
      if (record?.end !== end + 1) throw new UnsafeLayerError(`${where}: node-tar would read a PAX record at byte ${start} that is inside another record's value: layer refused`);
      read.add(record);
    }
    start = end + 1;
  }
  const dropped = records.find((record) => !read.has(record) && NODE_TAR_KEYS.has(record.key));
  if (dropped) throw new UnsafeLayerError(`${where}: node-tar would not read the PAX record "${dropped.key}" (a newline or invalid UTF-8 in its value): layer refused`);
}

/**
 * Whether to set xattr `name` (from entry `where`): undefined to set it, else why it is skipped.
 * Refused, the whole layer with it: a name or value the kernel could not take (so the layer is
 * malformed), and overlayfs's own attributes, which describe how the layers below show through a
 * folder (trusted.overlay.opaque hides them), not the file: our layers become overlay lower
 * folders, where the kernel would obey them. Skipped: namespaces other than user., security. and
 * trusted.: system.posix_acl_* (ACLs are not carried), or names the kernel has no namespace for.
 */
export function checkXattr(name: string, value: Buffer, where: string): string | undefined {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > XATTR_NAME_MAX) throw new UnsafeLayerError(`${where}: xattr name of ${bytes} bytes (1 to ${XATTR_NAME_MAX}): layer refused`);
  if (value.length > XATTR_SIZE_MAX) throw new UnsafeLayerError(`${where}: xattr ${name} is ${value.length} bytes, over the kernel's ${XATTR_SIZE_MAX}: layer refused`);
  if (OVERLAY_XATTRS.some((prefix) => name.startsWith(prefix))) throw new UnsafeLayerError(`${where}: xattr ${name} is overlayfs's own, not a file's: layer refused`);
  const namespace = XATTR_NAMESPACES.find((prefix) => name.startsWith(prefix));
  if (!namespace || name === namespace) return `${name}: not in the ${XATTR_NAMESPACES.map((n) => `${n}*`).join(', ')} namespaces`;
  return undefined;
}

/** An entry as LayerTap read its header: what node-tar must emit next, and the xattrs its PAX header gave. */
export interface TappedEntry {
  path: string;
  type: string;
  xattrs?: Map<string, Buffer>;
}

/**
 * What flows from the decompressor to node-tar, read on the way: every byte hashed for the diff ID,
 * and the tar's headers followed to keep the xattrs node-tar drops. The tar is cut exactly as
 * node-tar cuts it (its own Header and Pax classes read each header, the same size limit for a PAX
 * header), and each entry node-tar emits is checked against the next one read here, by name and
 * type: an xattr never lands on another entry, and a tar that the two read differently is refused.
 * A PAX header costs a little work; a file's body is only counted, never looked at.
 */
export class LayerTap extends Transform {
  readonly hash: Hash = createHash('sha256');
  /** Entries read here that node-tar has not emitted yet, in order. */
  readonly entries: TappedEntry[] = [];
  private readonly block = Buffer.alloc(512);
  private filled = 0;
  /** Bytes of the current entry's body (with its padding to 512) still to pass. */
  private bodyLeft = 0;
  /** The body of a PAX or long-name header being collected. */
  private meta?: { type: string; size: number; chunks: Buffer[]; got: number };
  /** node-tar's state for the next entry: its PAX or long-name headers, the global one, and ours. */
  private ex?: HeaderData;
  private gex?: HeaderData;
  private xattrs?: Map<string, Buffer>;
  private sawNullBlock = false;
  /** The end of the tar (or a header node-tar refuses: then it fails the layer itself). */
  private done = false;
  private headers = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    try {
      this.scan(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    callback(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.done) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - at);
        const meta = this.meta;
        if (meta && meta.got < meta.size) {
          const take = Math.min(n, meta.size - meta.got);
          meta.chunks.push(Buffer.from(chunk.subarray(at, at + take)));
          meta.got += take;
        }
        this.bodyLeft -= n;
        at += n;
        if (this.bodyLeft === 0 && meta) this.endMeta(meta);
        continue;
      }
      const n = Math.min(512 - this.filled, chunk.length - at);
      chunk.copy(this.block, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === 512) {
        this.filled = 0;
        this.header();
      }
    }
  }

  /** One 512-byte header, as node-tar's Parser reads it (parse.js: consumeHeader). */
  private header(): void {
    this.headers++;
    let header: Header;
    try {
      header = new Header(this.block, 0, this.ex, this.gex);
    } catch {
      this.done = true;
      return;
    }
    if (header.nullBlock) {
      // Two in a row end the tar; node-tar reads nothing after them.
      if (this.sawNullBlock) this.done = true;
      this.sawNullBlock = true;
      return;
    }
    this.sawNullBlock = false;
    if (!header.cksumValid || !header.path) {
      this.done = true; // node-tar, strict, fails the layer on this header
      return;
    }
    const size = header.size ?? 0;
    this.bodyLeft = 512 * Math.ceil(size / 512);
    if (META_TYPES.has(header.type)) {
      if (size > MAX_META_SIZE) throw new UnsafeLayerError(`header ${this.headers} (${header.type} before "${header.path}"): ${size} bytes, over ${MAX_META_SIZE}: layer refused`);
      if (size > 0) this.meta = { type: header.type, size, chunks: [], got: 0 };
      return;
    }
    // The name node-tar's ReadEntry gives: a PAX path wins over the header's (and its ustar prefix).
    this.entries.push({ path: this.ex?.path ?? header.path, type: header.type, xattrs: this.xattrs });
    this.ex = undefined;
    this.xattrs = undefined;
  }

  /** A PAX or long-name header's body, complete: node-tar's state for the next entry (parse.js: emitMeta), and our xattrs. */
  private endMeta(meta: { type: string; chunks: Buffer[] }): void {
    this.meta = undefined;
    const body = Buffer.concat(meta.chunks);
    const text = body.toString();
    switch (meta.type) {
      case 'ExtendedHeader':
      case 'OldExtendedHeader':
      case 'GlobalExtendedHeader': {
        const where = `PAX header ${this.headers}`;
        const records = readPaxRecords(body, where);
        checkNodeTarReadsTheSame(body, records, where);
        if (meta.type === 'GlobalExtendedHeader') {
          // For every entry after it (node-tar applies it; containerd, through Go, ignores one):
          // its xattrs are not set.
          this.gex = Pax.parse(text, this.gex, true);
          break;
        }
        this.ex = Pax.parse(text, this.ex, false);
        for (const { key, value } of records) {
          if (key.startsWith(PAX_XATTR)) (this.xattrs ??= new Map()).set(key.slice(PAX_XATTR.length), value);
        }
        break;
      }
      case 'NextFileHasLongPath':
      case 'OldGnuLongPath':
        this.ex ??= Object.create(null) as HeaderData;
        this.ex.path = text.replace(/\0.*/, '');
        break;
      case 'NextFileHasLongLinkpath':
        this.ex ??= Object.create(null) as HeaderData;
        this.ex.linkpath = text.replace(/\0.*/, '');
        break;
    }
  }
}
