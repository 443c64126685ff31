// wrong: a memory limit without swap: a hog on a host with swap is swapped out instead of OOM-killed
// caught by: resourcesSection
const resources: LinuxResources = {};
if (options.memoryLimitBytes !== undefined) resources.memory = { limit: options.memoryLimitBytes };
if (options.pidsLimit !== undefined) resources.pids = { limit: options.pidsLimit };
return resources;
