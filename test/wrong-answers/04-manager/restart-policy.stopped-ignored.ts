// wrong: restarts a container the user stopped when the policy is "always"
// caught by: shouldRestart: 
switch (policy.name) {
  case 'no':
    return false;
  case 'always':
    return true;
  case 'on-failure':
    return !stoppedByUser && exitCode !== 0 && (policy.maxRetries === undefined || restartCount < policy.maxRetries);
}
