// wrong: the first exit already doubles the base (20 s where kubelet waits 10 s)
// caught by: nextBackoff
if (ranMs >= policy.resetMs) return policy.baseMs;
return Math.min(Math.max(previousMs, policy.baseMs) * 2, policy.capMs);
