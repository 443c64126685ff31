/**
 * Waiting in checks: poll until something holds (a container's state, a line in a log), since
 * processes change asynchronously. `explain` is asked every half second and at the deadline:
 * an Error it returns is the real reason (a daemon's log showing "not implemented yet") and is
 * thrown at once, instead of waiting out the timeout; a string is added to the timeout's message.
 */
import { scaled } from '../slow.ts';

const POLL_MS = 50;

export interface EventuallyOptions {
  /** Default 10 s; multiplied by the machine's slow factor (lib/slow.ts). */
  timeoutMs?: number;
  explain?: () => Error | string | undefined;
}

/** Resolves with the first truthy value `check` returns. */
export async function eventually<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, options: EventuallyOptions = {}): Promise<T> {
  const timeoutMs = scaled(options.timeoutMs ?? 10_000);
  const deadline = Date.now() + timeoutMs;
  for (let round = 1; ; round++) {
    const value = await check();
    if (value) return value;
    const late = Date.now() > deadline;
    if (late || round % 10 === 0) {
      const explanation = options.explain?.();
      if (explanation instanceof Error) throw explanation;
      if (late) throw new Error(`${what}: not so after ${timeoutMs} ms${explanation ? `; ${explanation}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
