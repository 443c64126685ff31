// wrong: forgets the key whenever an operation ends, even while a later one is still queued: the next operation on it then runs at once, beside the one still running
// caught by: KeyedLock
const previous = this.tails.get(key) ?? Promise.resolve();
const result = previous.then(operation, operation);
const tail = result.catch(() => {});
this.tails.set(key, tail);
void tail.then(() => this.tails.delete(key));
return result;
