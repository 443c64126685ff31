/**
 * A watchdog over the learner's code, for the checks. A wrong answer often hangs rather than
 * fails (a pipe kept open, a child never reaped, a promise never resolved); vitest would then
 * wait out its 30 s test timeout and report only "Test timed out", once per check. Instead,
 * every async function and method a check imports from the target (lib/harness/target.ts) is
 * watched: a call that has not settled CALL_DEADLINE_MS (scaled for a slow machine) after the
 * check started waiting for it fails in words, naming what did not answer:
 *
 *     timed out after 10 s: `create` never returned (OciRuntime.create("cmw…-states-1", {…}) of 02-lifecycle/runtime.ts)
 *
 * and later calls of the same function in the same test file fail at once ("not tried: it
 * timed out in an earlier check"), so one hang costs seconds, not minutes.
 *
 * The deadline starts when the check awaits the promise (its first `then`), not when the call
 * is made: `const exited = client.wait(); ...; await exited` keeps all the time it needs.
 * Calls made by the learner's code itself (one method calling another) are not watched on
 * their own: only the outermost call, the one the check made.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import os from 'node:os';
import { scaled, SLOW } from '../slow.ts';

/**
 * How long one call of the learner's code may take once a check waits for it, before the slow
 * factor: one runtime call takes well under a second. A call given a time limit of its own (a
 * number argument, or a `timeoutMs`/`timeout` option) gets that much more.
 */
export function callDeadlineMs(): number {
  return Number(process.env.WORKSHOP_CALL_DEADLINE_MS) || 5_000;
}

export interface WatchedCall {
  /** The longest time limit among the arguments (ms), if any. */
  ownLimitMs?: number;
  /** The target file, relative to the target folder: "02-lifecycle/runtime.ts". */
  file: string;
  /** "create" */
  method: string;
  /** "OciRuntime.create" */
  label: string;
  /** The arguments, shortened, for the message. */
  args: string;
}

/** The error a call that never settled rejects with. Its `call` says which (the report finds the exercise). */
export class CheckTimeoutError extends Error {
  constructor(
    message: string,
    readonly call: WatchedCall,
    readonly seconds: number,
  ) {
    super(message);
    this.name = 'CheckTimeoutError';
  }
}

const inside = new AsyncLocalStorage<boolean>();
const pending = new Set<{ call: WatchedCall; since: number }>();
/** Functions that timed out in this test file (one worker per file): label -> the first message. */
const hung = new Map<string, string>();

/** A call vitest's own timeout caught still running: later calls of it in this file fail at once, as after our own deadline. */
export function markHung(call: WatchedCall, after: string): void {
  hung.set(call.label, after);
}

/** The watched calls still running that started after `since` (for vitest's own timeout message). */
export function pendingCalls(since = 0): { call: WatchedCall; since: number }[] {
  return [...pending].filter((entry) => entry.since >= since);
}

function shorten(value: unknown, room = 60): string {
  let text: string;
  if (typeof value === 'function') text = value.name ? `[function ${value.name}]` : '[function]';
  else if (typeof value === 'string') text = JSON.stringify(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > room ? `${text.slice(0, room - 1)}…` : text;
}

/** A promise that starts its deadline when someone first waits for it. */
class Watched<T> extends Promise<T> {
  static get [Symbol.species]() {
    return Promise;
  }
  onFirstWait?: () => void;
  then<A = T, B = never>(resolved?: ((value: T) => A | PromiseLike<A>) | null, rejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    const arm = this.onFirstWait;
    this.onFirstWait = undefined;
    arm?.();
    return super.then(resolved, rejected);
  }
}

function watchCall(call: WatchedCall, run: () => unknown): unknown {
  if (inside.getStore()) return run();
  const earlier = hung.get(call.label);
  if (earlier) {
    const error = new CheckTimeoutError(`not tried: \`${call.method}\` timed out in an earlier check of this chapter (${earlier}); fix that first`, call, 0);
    return Promise.reject(error);
  }
  const result = inside.run(true, run);
  if (!result || typeof (result as PromiseLike<unknown>).then !== 'function') return result;
  const entry = { call, since: Date.now() };
  pending.add(entry);
  let timer: NodeJS.Timeout | undefined;
  let fail: (error: Error) => void = () => {};
  const watched = new Watched<unknown>((resolve, reject) => {
    fail = reject;
    (result as PromiseLike<unknown>).then(
      (value) => {
        clearTimeout(timer);
        pending.delete(entry);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        pending.delete(entry);
        reject(error);
      },
    );
  });
  watched.onFirstWait = () => {
    if (!pending.has(entry)) return; // settled already
    // Many calls at once (20 shims started together) share the machine: give them more room.
    // A call given a time limit of its own may use all of it, then needs time to stop what it
    // started: execa waits 5 s between SIGTERM and SIGKILL by default, then comes a runtime's
    // `delete --force` (chapter 01's timeout check: 1 s limit, about 6.5 s in all when quiet).
    const afterOwnLimit = call.ownLimitMs === undefined ? 0 : call.ownLimitMs + scaled(10_000);
    const ms = (scaled(callDeadlineMs()) + afterOwnLimit) * (pending.size > 2 ? 3 : 1);
    const armed = Date.now();
    let extended = false;
    let crowded = false;
    const expire = () => {
      if (!pending.has(entry)) return;
      // Others still running beside it (20 shims started together, each awaited as it comes):
      // they share the machine, so give it twice its time again, once (a fresh clone's CI run
      // saw one of 20 startShim calls take over 5 s at load 12).
      const room0 = scaled(25_000) - (Date.now() - armed);
      if (!crowded && pending.size > 1 && room0 > 1000) {
        crowded = true;
        timer = setTimeout(expire, Math.min(ms * 2, room0));
        timer.unref();
        return;
      }
      // A machine far busier than its cores (a loaded CI runner, many test files at once) runs
      // everything slower than its slow factor says: give such a call once more time, with the load.
      const pressure = os.loadavg()[0] / Math.max(1, os.availableParallelism());
      // (At most up to 25 s in all, scaled: vitest's own 30 s test timeout must not come first.)
      const room = scaled(25_000) - (Date.now() - armed);
      // A slow factor measured on the loaded machine (workshop doctor) already covers that load.
      const extra = Math.min(pressure / (3 * SLOW), 6);
      if (!extended && pressure > 6 && extra > 1 && room > 1000) {
        extended = true;
        timer = setTimeout(expire, Math.min(ms * extra, room));
        timer.unref();
        return;
      }
      pending.delete(entry);
      const seconds = Math.round((Date.now() - armed) / 100) / 10;
      hung.set(call.label, `after ${seconds} s`);
      fail(
        new CheckTimeoutError(
          `timed out after ${seconds} s: \`${call.method}\` never returned (${call.label}(${call.args}) of ${call.file}). ` +
            'It waits for something that never comes: a child process that does not exit, a pipe or socket nobody closes, a promise nobody resolves.',
          call,
          seconds,
        ),
      );
    };
    timer = setTimeout(expire, ms);
    timer.unref();
  };
  return watched;
}

/**
 * A time limit the call was given: a number argument or a timeoutMs/timeout option, up to 10
 * minutes scaled (a check gives its calls limits scaled by the slow factor: the VM's pulls are
 * given 16 minutes at WORKSHOP_SLOW=16, and must keep them).
 */
function ownLimit(args: unknown[]): number | undefined {
  const limits: number[] = [];
  for (const arg of args) {
    if (typeof arg === 'number') limits.push(arg);
    else if (arg && typeof arg === 'object') {
      for (const key of ['timeoutMs', 'timeout']) {
        const value = (arg as Record<string, unknown>)[key];
        if (typeof value === 'number') limits.push(value);
      }
    }
  }
  const plausible = limits.filter((ms) => Number.isFinite(ms) && ms > 0 && ms <= scaled(600_000));
  return plausible.length ? Math.max(...plausible) : undefined;
}

function isClass(value: unknown): value is new (...args: unknown[]) => object {
  return typeof value === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(value));
}

const allowance = new AsyncLocalStorage<number>();

/**
 * Give the calls made inside `fn` a time limit of their own, `ms`, as if it were one of their
 * arguments: for work whose time is not the learner's code's but real programs' (chapter 06:
 * a chain of CNI plugins, each a process that runs iptables, seconds on a loaded machine).
 */
export function givenTime<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  return allowance.run(ms, fn);
}

function wrapFunction(fn: (...args: unknown[]) => unknown, file: string, method: string, label: string): (...args: unknown[]) => unknown {
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const own = Math.max(ownLimit(args) ?? 0, allowance.getStore() ?? 0);
    return watchCall({ file, method, label, args: args.map((arg) => shorten(arg)).join(', '), ownLimitMs: own || undefined }, () => fn.apply(this, args));
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name });
  Object.defineProperty(wrapper, 'length', { value: fn.length });
  return wrapper;
}

function wrapClass(Original: new (...args: unknown[]) => object, file: string): unknown {
  // Errors are thrown and compared, never waited for: leave them as they are.
  if (Original.prototype instanceof Error) return Original;
  // A subclass, not a Proxy: instances are real ones (private fields work), and
  // `x instanceof Watched` asks the original, so objects made inside the learner's code pass.
  const Subclass = class extends Original {
    static [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof Original;
    }
  };
  Object.defineProperty(Subclass, 'name', { value: Original.name });
  for (const name of Object.getOwnPropertyNames(Original.prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(Original.prototype, name);
    if (name === 'constructor' || typeof descriptor?.value !== 'function') continue;
    Object.defineProperty(Subclass.prototype, name, { ...descriptor, value: wrapFunction(descriptor.value, file, name, `${Original.name}.${name}`) });
  }
  for (const name of Object.getOwnPropertyNames(Original)) {
    const descriptor = Object.getOwnPropertyDescriptor(Original, name);
    if (['prototype', 'length', 'name'].includes(name) || typeof descriptor?.value !== 'function' || isClass(descriptor.value)) continue;
    Object.defineProperty(Subclass, name, { ...descriptor, value: wrapFunction(descriptor.value, file, name, `${Original.name}.${name}`) });
  }
  return Subclass;
}

const watchedModules = new WeakMap<object, object>();

/** The module's exports, with its functions and classes watched. `file` is relative to the target folder. */
export function watchModule<T extends object>(module: T, file: string): T {
  const known = watchedModules.get(module);
  if (known) return known as T;
  const watched: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(module)) {
    if (isClass(value)) watched[name] = wrapClass(value, file);
    else if (typeof value === 'function') watched[name] = wrapFunction(value as (...args: unknown[]) => unknown, file, name, name);
    else watched[name] = value;
  }
  watchedModules.set(module, watched);
  return watched as T;
}
