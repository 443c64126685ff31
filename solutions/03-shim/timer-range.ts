/**
 * Node's timers count milliseconds in 32 bits: setTimeout(fn, 2 ** 31) does not wait 24.8
 * days, it fires after 1 ms (with a TimeoutOverflowWarning). A grace period or a linger time
 * that comes from a user must be checked against that range before it reaches a timer, or
 * `stop -t 2147484` kills at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` if a timer can wait that long; else a RangeError naming `what` and the range. */
export function checkTimerMs(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS) {
    throw new RangeError(`${what} must be from 0 to ${MAX_TIMER_MS} ms (Node's timers hold 32 bits), not ${ms}`);
  }
  return ms;
}
