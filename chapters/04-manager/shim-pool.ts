/**
 * A few shims started ahead of need, so that a container's start does not wait for Node.
 *
 * A shim is a Node process: booting one and loading its code takes ~250 ms here, more than
 * `runc create` + `start` themselves. conmand keeps `size` of them idle (pooled.ts in chapter
 * 03: loaded, a subreaper, waiting on a socket pair); start takes one and hands it the
 * container, and the pool starts a replacement in the background once starts pause (a
 * second), at a low CPU priority (nice 10).
 * `size` 0 turns it off; `conman --no-daemon` never has one (it would die with the command).
 *
 * The price: each idle shim is a Node process at rest, ~10 MiB of memory (bench/shim.ts
 * prints the figure). containerd has no pool: its shims are Go programs that start in a few
 * milliseconds, one per pod, and a pod's other containers reuse its shim.
 */
import path from 'node:path';
import { IdleShim } from '#lower/03-shim/client.ts';
import { scaled } from '#lib/slow.ts';

export const DEFAULT_SHIM_POOL_SIZE = 2;
/**
 * The pool refills once starts pause this long. Booting a Node shim costs ~250 ms of CPU; on
 * two cores, done during a start, it slowed that very start (bench/manager.ts, `conman run
 * --rm IMAGE true`: 1.6× ctr run --rm with a refill 200 ms after each take, 1.3× with this).
 */
const REFILL_AFTER_MS = 1000;

export class ShimPool {
  private readonly idle: IdleShim[] = [];
  /** Shims still booting: close() waits for them, so that none is left behind. */
  private readonly booting = new Set<Promise<IdleShim | undefined>>();
  private closed = false;
  private refill?: NodeJS.Timeout;

  /** `runRoot`: the manager's; the pool's log is <runRoot>/shim-pool/pool.log. */
  constructor(
    readonly size: number,
    private readonly runRoot: string,
  ) {}

  get dir(): string {
    return path.join(this.runRoot, 'shim-pool');
  }

  /** Start shims until `size` are idle or starting. */
  fill(): void {
    while (!this.closed && this.idle.length + this.booting.size < this.size) {
      const boot = IdleShim.start(this.dir).then(
        (shim) => {
          if (!this.closed) {
            this.idle.push(shim);
            shim.onExit(() => this.forget(shim)); // killed while it waited: not ours any more
          }
          return shim;
        },
        (error: Error) => {
          // No busy loop on a broken machine: the next try comes later (or with the next take).
          console.error(`conman: shim pool: ${error.message}; trying again in a few seconds (containers start without the pool meanwhile)`);
          this.refillLater(scaled(5000));
          return undefined;
        },
      );
      this.booting.add(boot);
      void boot.finally(() => this.booting.delete(boot));
    }
  }

  /** An idle shim for a container, or undefined (none ready: the caller starts one itself). A replacement follows. */
  take(): IdleShim | undefined {
    let shim: IdleShim | undefined;
    while ((shim = this.idle.shift()) && !shim.alive);
    // Not now: the caller's start (and its container's first moments) come first. A burst of
    // starts drains the pool and falls back to new shims; it refills when the burst is over.
    this.refillLater(scaled(REFILL_AFTER_MS));
    return shim;
  }

  private refillLater(delayMs: number): void {
    clearTimeout(this.refill);
    this.refill = setTimeout(() => this.fill(), delayMs);
    this.refill.unref();
  }

  private forget(shim: IdleShim): void {
    const at = this.idle.indexOf(shim);
    if (at !== -1) this.idle.splice(at, 1);
  }

  /**
   * Stop every idle shim, and those still booting once they are up; resolves when all are
   * gone. (A manager that dies without closing loses them too: each reads end-of-file on its
   * link and exits, once it has booted.)
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.refill);
    const booted = await Promise.all([...this.booting]);
    const all = new Set([...this.idle.splice(0), ...booted.filter((shim): shim is IdleShim => shim !== undefined)]);
    await Promise.all([...all].map((shim) => shim.stop()));
  }
}
