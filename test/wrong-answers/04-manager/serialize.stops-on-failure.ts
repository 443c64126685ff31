// wrong: chains with then(operation) only: after one failure, every later operation on the key fails with it
// caught by: KeyedLock
const previous = this.tails.get(key) ?? Promise.resolve();
const result = previous.then(operation);
this.tails.set(key, result.catch(() => {}));
return result;
