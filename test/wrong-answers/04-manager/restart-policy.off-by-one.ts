// wrong: on-failure:N allows N + 1 restarts
// caught by: shouldRestart: 
if (stoppedByUser) return false;
switch (policy.name) {
  case 'no':
    return false;
  case 'always':
    return true;
  case 'on-failure':
    return exitCode !== 0 && (policy.maxRetries === undefined || restartCount <= policy.maxRetries);
}
