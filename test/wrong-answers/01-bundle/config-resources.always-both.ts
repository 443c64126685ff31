// wrong: sets both limits even when one was not asked for (undefined is not "inherit")
// caught by: resourcesSection
return {
  memory: { limit: options.memoryLimitBytes, swap: options.memoryLimitBytes },
  pids: { limit: options.pidsLimit as number },
};
