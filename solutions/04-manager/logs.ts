/**
 * `conman logs [--tail N] [-f]`: reading a container's CRI log file (chapter 03 writes it).
 *
 * The file itself is what travels: conmand sends its records as they are and the CLI parses
 * them (lib/cri-log.ts), as kubelet reads the files containerd and cri-o write. Following is
 * polling: read what is new every 50 ms until the container is no longer running and nothing
 * is left to read. (`tail -f` and kubelet poll or use inotify; polling also works on the
 * Vagrant VM's synced folders, where inotify does not.)
 */
import fs from 'node:fs';

const POLL_MS = 50;

/**
 * The byte offset where the last `lines` complete records before byte `size` start (0 for
 * the whole file). Reads backwards in blocks, so a large log costs only what is shown.
 */
export function tailOffset(file: string, lines: number, size = fs.statSync(file).size): number {
  // An incomplete last record (still being written) counts as nothing. Walking back, the
  // record after the (lines+1)-th newline from the end is the first one to show.
  const fd = fs.openSync(file, 'r');
  try {
    let end = size;
    const block = Buffer.alloc(64 * 1024);
    let newlines = 0;
    let position = size;
    let firstNewlineSeen = false;
    while (position > 0) {
      const length = Math.min(block.length, position);
      position -= length;
      fs.readSync(fd, block, 0, length, position);
      for (let i = length - 1; i >= 0; i--) {
        if (block[i] !== 0x0a) continue;
        if (!firstNewlineSeen) {
          firstNewlineSeen = true;
          end = position + i + 1;
          continue;
        }
        if (++newlines === lines) return position + i + 1;
      }
    }
    return lines === 0 ? end : 0;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The log's bytes from `offset`, in whole records: up to byte `until` (the size the file had
 * when it was asked for: `--tail 2` means two lines, even if the container writes on), or
 * with `follow`, new records as they come, until `isOver()` says the container has stopped
 * and the file holds nothing more.
 */
export async function* readLog(file: string, options: { offset: number; until?: number; follow: boolean; isOver: () => boolean; signal?: AbortSignal }): AsyncGenerator<Buffer> {
  let fd: number;
  for (;;) {
    try {
      fd = fs.openSync(file, 'r');
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // Nothing written yet: nothing to show, unless we follow a container that may still write.
      if (!options.follow || options.isOver() || options.signal?.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  try {
    let position = options.offset;
    const buffer = Buffer.alloc(256 * 1024);
    let carry = Buffer.alloc(0);
    for (;;) {
      // Ask whether it is over *before* reading: what was written before the end is read after.
      const over = !options.follow || options.isOver();
      for (;;) {
        const room = options.follow || options.until === undefined ? buffer.length : Math.min(buffer.length, options.until - position);
        const read = room > 0 ? fs.readSync(fd, buffer, 0, room, position) : 0;
        if (read === 0) break;
        position += read;
        const data = Buffer.concat([carry, buffer.subarray(0, read)]);
        const last = data.lastIndexOf(0x0a);
        carry = Buffer.from(data.subarray(last + 1));
        if (last >= 0) yield Buffer.from(data.subarray(0, last + 1));
      }
      if (over || options.signal?.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    fs.closeSync(fd);
  }
}
