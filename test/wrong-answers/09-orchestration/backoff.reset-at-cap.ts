// wrong: the cap taken for the reset time: a container that runs 5 minutes between crashes never climbs past the base delay
// caught by: nextBackoff
if (previousMs <= 0 || ranMs >= policy.capMs) return policy.baseMs;
return Math.min(previousMs * 2, policy.capMs);
