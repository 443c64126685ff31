/**
 * The result cache: for one container on one network, the list, the arguments and the ADD
 * result, in a file, so that DEL gets exactly what ADD got, even from a conmand that was
 * killed and started again (libcni keeps the same in /var/lib/cni/results/<net>-<id>-<if>).
 * Without it, DEL has no prevResult: firewall and portmap then exit 0 and leave their
 * iptables rules behind, and nobody notices.
 *
 * Written twice: before ADD (no result yet: a crash in the middle of ADD can still be undone)
 * and after it. Each write is atomic (a temporary file renamed over the name).
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';
import type { NetworkConfigList } from './conflist.ts';
import type { Attachment, CniResult } from './plugin.ts';

export interface CachedAttachment {
  list: NetworkConfigList;
  attachment: Attachment;
  /** Absent while ADD runs (or when it never finished). */
  result?: CniResult;
}

export class AttachmentCache {
  constructor(readonly file: string) {}

  read(): CachedAttachment | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as CachedAttachment;
    } catch {
      throw new Error(`${this.file} is not JSON: the network of this container cannot be undone from it; delete the file and remove what its network left by hand (see conman network ls)`);
    }
  }

  write(entry: CachedAttachment): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600, fsync: true });
  }

  remove(): void {
    fs.rmSync(this.file, { force: true });
  }
}
