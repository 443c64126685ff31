// wrong: every plugin gets every capability offered, declared or not
// caught by: pluginStdin
return {
  ...plugin,
  cniVersion: list.cniVersion,
  name: list.name,
  ...(prevResult ? { prevResult } : {}),
  ...(Object.keys(capabilities).length > 0 ? { runtimeConfig: capabilities } : {}),
};
