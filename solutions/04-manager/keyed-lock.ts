/**
 * One operation at a time per container. `stop` and `rm` arriving together for the same
 * container must not both talk to its shim and both write its record: the second waits for
 * the first. Different containers never wait for each other. (containerd and dockerd do the
 * same with a mutex per container; in Node there are no threads, but every `await` is a
 * point where another request's code runs in between.)
 */
export class KeyedLock {
  /** The tail of each key's queue: the promise the next operation waits for. */
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Run `operation` once every earlier operation on `key` has settled; resolves with its result. */
  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    // EXERCISE(serialize): chain `operation` after the previous one on the same key, whatever its outcome
    // Hints: keep the last promise per key in this.tails; the next one starts in
    // previous.then(operation, operation), so a failure does not block the queue. Delete the
    // key when the queue is empty again, or the map grows with every container ever seen.
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(operation, operation);
    const tail = result.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
    // END EXERCISE
  }

  /** Keys with an operation running or queued (for tests and debugging). */
  get busyKeys(): string[] {
    return [...this.tails.keys()];
  }
}
