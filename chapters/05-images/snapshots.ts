/**
 * Snapshots: a container's root filesystem, made of an image's layers without copying them.
 *
 * Each layer is unpacked once, into its own read-only folder keyed by its *chain ID*, the
 * identity of the layer together with everything under it (as containerd's overlayfs
 * snapshotter keys its snapshots):
 *
 *   chainID(L1)       = diffID(L1)
 *   chainID(L1..Ln)   = sha256(chainID(L1..Ln-1) + " " + diffID(Ln))
 *
 * (the same layer on top of a different base is a different snapshot: its whiteouts and
 * hard links meant something about that base). A container then gets an overlay mount:
 *
 *   lowerdir = the chain's folders, top layer first (read-only, shared by every container)
 *   upperdir = its own folder (every write lands there), workdir = overlay's scratch folder
 *
 *   <root>/snapshots/<chainID hex>/fs        one layer's own files (and overlay's whiteouts)
 *   <root>/snapshots/<chainID hex>/parent    the chain ID below it
 *   <root>/active/<container id>/{upper,work,rootfs}
 *   <root>/active/<container id>/{chain,dir}  with `dir`: the three live in the manager's
 *                                            folder for the container, this one only says "in use"
 *
 * A layer is applied through an overlay mount too (the layers below + an empty upper folder):
 * its deletions become overlay whiteouts in the upper folder, by the kernel's own rules.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { sha256 } from './content-store.ts';
import type { ApplyStats } from './unpack.ts';

const run = promisify(execFile);

/** The chain IDs of a stack of layers, bottom first (the OCI image spec's definition). */
export function chainIds(diffIds: string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) chain.push(chain.length === 0 ? diffId : sha256(`${chain[chain.length - 1]} ${diffId}`));
  return chain;
}

export interface LayerToApply {
  /** The compressed (or plain) layer blob, in the content store. */
  blob: string;
  diffId: string;
  mediaType?: string;
}

/** mount -t overlay; overlay paths are relative to `cwd` so that long chains fit in a page of options. */
async function mountOverlay(target: string, lower: string[], cwd: string, upper?: { upper: string; work: string }, readonly = false): Promise<void> {
  const options = [`lowerdir=${lower.join(':')}`];
  if (upper) options.push(`upperdir=${upper.upper}`, `workdir=${upper.work}`);
  if (readonly) options.push('ro');
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options.join(','), target], { cwd });
  } catch (error) {
    throw new Error(`mounting the overlay on ${target} failed: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message} (is the overlay module loaded? modprobe overlay)`);
  }
}

export async function unmount(target: string): Promise<void> {
  if (!isMountPoint(target)) return;
  await run('umount', [target]).catch(async () => run('umount', ['-l', target]));
}

function isMountPoint(dir: string): boolean {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const escaped = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mounts.split('\n').some((line) => line.split(' ')[4] === escaped);
}

export class Snapshotter {
  readonly snapshotsDir: string;
  readonly activeDir: string;

  constructor(readonly root: string) {
    this.snapshotsDir = path.join(root, 'snapshots');
    this.activeDir = path.join(root, 'active');
    fs.mkdirSync(this.snapshotsDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.activeDir, { recursive: true, mode: 0o700 });
  }

  private dirOf(chainId: string): string {
    return path.join(this.snapshotsDir, chainId.replace(/^sha256:/, ''));
  }

  /** The folders of a chain, as overlay lowerdir wants them: top first, relative to snapshotsDir. */
  private lowers(chain: string[]): string[] {
    return chain.map((id) => `${id.replace(/^sha256:/, '')}/fs`).reverse();
  }

  has(chainId: string): boolean {
    return fs.existsSync(path.join(this.dirOf(chainId), 'parent'));
  }

  /**
   * Unpack the layers not unpacked yet, bottom first; returns the top chain ID. A snapshot is
   * made in a temporary folder and renamed into place when complete: a failed or hostile
   * layer leaves nothing under its chain ID.
   */
  async prepare(layers: LayerToApply[], onLayer?: (index: number, stats: ApplyStats | 'exists') => void): Promise<string> {
    // The unpacker (node-tar, zstd) is loaded by a pull only, not by every command that reads the store.
    const { applyLayer } = await import('./unpack.ts');
    const chain = chainIds(layers.map((layer) => layer.diffId));
    for (let i = 0; i < layers.length; i++) {
      if (this.has(chain[i])) {
        onLayer?.(i, 'exists');
        continue;
      }
      const temp = path.join(this.snapshotsDir, `tmp-${randomBytes(6).toString('hex')}`);
      await fsp.mkdir(path.join(temp, 'fs'), { recursive: true, mode: 0o755 });
      await fsp.chmod(path.join(temp, 'fs'), 0o755);
      try {
        let stats: ApplyStats;
        if (i === 0) {
          stats = await applyLayer(layers[i].blob, path.join(temp, 'fs'), { expectedDiffId: layers[i].diffId, mediaType: layers[i].mediaType });
        } else {
          await fsp.mkdir(path.join(temp, 'work'));
          await fsp.mkdir(path.join(temp, 'merged'));
          const name = path.basename(temp);
          await mountOverlay(path.join(temp, 'merged'), this.lowers(chain.slice(0, i)), this.snapshotsDir, { upper: `${name}/fs`, work: `${name}/work` });
          try {
            stats = await applyLayer(layers[i].blob, path.join(temp, 'merged'), { expectedDiffId: layers[i].diffId, mediaType: layers[i].mediaType });
          } finally {
            await unmount(path.join(temp, 'merged'));
          }
          await fsp.rm(path.join(temp, 'work'), { recursive: true, force: true });
          await fsp.rmdir(path.join(temp, 'merged'));
        }
        await fsp.writeFile(path.join(temp, 'parent'), i === 0 ? '' : chain[i - 1]);
        try {
          await fsp.rename(temp, this.dirOf(chain[i]));
        } catch (error) {
          // Another pull of the same layer finished first: its snapshot is the same, keep it.
          if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '') || !this.has(chain[i])) throw error;
          await fsp.rm(temp, { recursive: true, force: true });
        }
        onLayer?.(i, stats);
      } catch (error) {
        await unmount(path.join(temp, 'merged')).catch(() => {});
        await fsp.rm(temp, { recursive: true, force: true });
        throw error;
      }
    }
    return chain[chain.length - 1];
  }

  /** The chain (bottom first) that ends in `chainId`, read from the parent files. */
  chainOf(chainId: string): string[] {
    const chain: string[] = [];
    for (let id = chainId; id; id = fs.readFileSync(path.join(this.dirOf(id), 'parent'), 'utf8')) {
      if (!this.has(id)) throw new Error(`snapshot ${id} is missing: pull the image again`);
      chain.unshift(id);
    }
    return chain;
  }

  /**
   * A writable root filesystem for container `id`: an overlay of the chain ending in
   * `chainId` with the container's own upper folder. Returns the mounted rootfs path.
   * `dir` (default <root>/active/<id>) holds upper, work and rootfs: the manager gives the
   * container's own folder, so that its writes live (and go) with the container.
   */
  async mountContainer(id: string, chainId: string, dir?: string): Promise<string> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw new Error(`container id "${id}": letters, digits, . _ - only`);
    const active = path.join(this.activeDir, id);
    await fsp.mkdir(active, { mode: 0o700 });
    try {
      await fsp.writeFile(path.join(active, 'chain'), chainId);
      if (dir) await fsp.writeFile(path.join(active, 'dir'), dir);
      const home = dir ?? active;
      await fsp.mkdir(home, { recursive: true, mode: 0o700 });
      for (const sub of ['upper', 'work', 'rootfs']) await fsp.mkdir(path.join(home, sub), { mode: 0o755 });
      return await this.remountContainer(id);
    } catch (error) {
      await this.removeContainer(id);
      throw error;
    }
  }

  /**
   * An image's layers mounted read-only for a look (podman's `image mount`), as the "container"
   * `name` of the active folder, so that rmi and prune see it in use. Overlay wants two lower
   * folders when it has no upper one: a one-layer image is a read-only bind mount instead.
   */
  async mountReadOnly(name: string, chainId: string): Promise<string> {
    const active = path.join(this.activeDir, name);
    const rootfs = path.join(active, 'rootfs');
    await fsp.mkdir(rootfs, { recursive: true, mode: 0o755 });
    await fsp.writeFile(path.join(active, 'chain'), chainId);
    if (isMountPoint(rootfs)) return rootfs;
    const chain = this.chainOf(chainId);
    try {
      if (chain.length === 1) {
        await run('mount', ['--bind', path.join(this.dirOf(chain[0]), 'fs'), rootfs]);
        await run('mount', ['-o', 'remount,bind,ro', rootfs]);
      } else {
        await mountOverlay(rootfs, this.lowers(chain), this.snapshotsDir, undefined, true);
      }
    } catch (error) {
      await this.removeContainer(name);
      throw error;
    }
    return rootfs;
  }

  /** Where container `id`'s upper, work and rootfs are. */
  private homeOf(id: string): string {
    const active = path.join(this.activeDir, id);
    try {
      return fs.readFileSync(path.join(active, 'dir'), 'utf8');
    } catch {
      return active;
    }
  }

  /** Mount container `id`'s rootfs again if it is not mounted (after a reboot); its writes are still in upper. */
  async remountContainer(id: string): Promise<string> {
    const home = this.homeOf(id);
    const rootfs = path.join(home, 'rootfs');
    if (isMountPoint(rootfs)) return rootfs;
    const lowers = this.lowers(this.chainOf(fs.readFileSync(path.join(this.activeDir, id, 'chain'), 'utf8')));
    await mountOverlay(rootfs, lowers, this.snapshotsDir, { upper: path.join(home, 'upper'), work: path.join(home, 'work') });
    return rootfs;
  }

  /** Unmount and remove a container's rootfs and its writes. */
  async removeContainer(id: string): Promise<void> {
    const active = path.join(this.activeDir, id);
    const home = this.homeOf(id);
    await unmount(path.join(home, 'rootfs'));
    if (isMountPoint(path.join(home, 'rootfs'))) throw new Error(`cannot unmount ${path.join(home, 'rootfs')}: is a process still using it?`);
    if (home !== active) for (const sub of ['upper', 'work', 'rootfs']) await fsp.rm(path.join(home, sub), { recursive: true, force: true });
    await fsp.rm(active, { recursive: true, force: true });
  }

  /** The containers whose rootfs uses the snapshot `chainId` (on top of it, or made of it). */
  containersOf(chainId: string): string[] {
    return fs.readdirSync(this.activeDir).filter((id) => {
      try {
        return this.chainOf(fs.readFileSync(path.join(this.activeDir, id, 'chain'), 'utf8')).includes(chainId);
      } catch {
        return false;
      }
    });
  }

  /** Chain IDs in use by containers. */
  activeChains(): Set<string> {
    const used = new Set<string>();
    for (const id of fs.readdirSync(this.activeDir)) {
      try {
        for (const chainId of this.chainOf(fs.readFileSync(path.join(this.activeDir, id, 'chain'), 'utf8'))) used.add(chainId);
      } catch {
        // a half-made folder: nothing it names is in use
      }
    }
    return used;
  }

  /** Remove the snapshots that neither `keep` (the images' chains) nor a container uses. */
  async garbageCollect(keep: Set<string>): Promise<string[]> {
    const used = this.activeChains();
    const removed: string[] = [];
    for (const name of fs.readdirSync(this.snapshotsDir)) {
      const id = `sha256:${name}`;
      if (keep.has(id) || used.has(id)) continue;
      await unmount(path.join(this.snapshotsDir, name, 'merged')).catch(() => {});
      await fsp.rm(path.join(this.snapshotsDir, name), { recursive: true, force: true });
      removed.push(name.startsWith('tmp-') ? name : id);
    }
    return removed;
  }
}
