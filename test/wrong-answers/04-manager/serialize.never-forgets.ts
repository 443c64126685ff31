// wrong: keeps every key forever (the map grows with every container ever seen)
// caught by: KeyedLock
const previous = this.tails.get(key) ?? Promise.resolve();
const result = previous.then(operation, operation);
this.tails.set(key, result.catch(() => {}));
return result;
