// wrong: keeps the operation's own promise as the tail and cleans up with .finally(): a failed operation leaves a rejection nobody handles, which ends conmand
// caught by: KeyedLock
const previous = this.tails.get(key) ?? Promise.resolve();
const result = previous.then(operation, operation);
this.tails.set(key, result);
result.finally(() => {
  if (this.tails.get(key) === result) this.tails.delete(key);
});
return result;
