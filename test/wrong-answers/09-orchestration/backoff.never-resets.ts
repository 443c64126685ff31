// wrong: a long healthy run is not a reset: a container that crashed a few times last week waits 5 minutes after its next crash
// caught by: nextBackoff
if (previousMs <= 0) return policy.baseMs;
return Math.min(previousMs * 2, policy.capMs);
