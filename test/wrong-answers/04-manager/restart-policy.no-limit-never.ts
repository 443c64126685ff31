// wrong: compares with maxRetries even when there is none: plain on-failure (no :N) never restarts
// caught by: shouldRestart: 
if (stoppedByUser) return false;
if (policy.name === 'always') return true;
if (policy.name === 'on-failure') return exitCode !== 0 && restartCount < (policy.maxRetries as number);
return false;
