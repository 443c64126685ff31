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
  private starting = 0;
  private closed = false;
  /** After a failed start, wait before the next one (no busy loop on a broken machine). */
  private retryAt = 0;
  private refill?: NodeJS.Timeout;

  /** `runRoot`: the manager's; the pool's log is <runRoot>/shim-pool/pool.log. */
  constructor(
    readonly size: number,
    private readonly runRoot: string,
  ) {}

  get dir(): string {
    return path.join(this.runRoot, 'shim-pool');
  }

  /** How many wait, ready. */
  get ready(): number {
    return this.idle.length;
  }

  /** Start shims until `size` are idle or starting. */
  fill(): void {
    while (!this.closed && this.idle.length + this.starting < this.size && Date.now() >= this.retryAt) {
      this.starting++;
      IdleShim.start(this.dir).then(
        (shim) => {
          this.starting--;
          if (this.closed) return shim.stop();
          this.idle.push(shim);
          shim.onExit(() => this.forget(shim)); // killed while it waited: not ours any more
        },
        (error: Error) => {
          this.starting--;
          this.retryAt = Date.now() + scaled(5000);
          console.error(`conman: shim pool: ${error.message}; trying again in a few seconds (containers start without the pool meanwhile)`);
          this.refillLater(scaled(5000));
        },
      );
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

  /** Let the idle shims go: each exits when its link closes. */
  close(): void {
    this.closed = true;
    clearTimeout(this.refill);
    for (const shim of this.idle.splice(0)) shim.stop();
  }
}
