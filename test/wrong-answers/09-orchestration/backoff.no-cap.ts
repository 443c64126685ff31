// wrong: the delay doubles for ever: after a night of crashes a container waits days, where kubelet waits 5 minutes at most
// caught by: nextBackoff
if (previousMs <= 0 || ranMs >= policy.resetMs) return policy.baseMs;
return previousMs * 2;
