// wrong: the plugin object spread last, so its own "name" or "cniVersion" wins over the list's
// caught by: pluginStdin
const runtimeConfig = Object.fromEntries(Object.entries(capabilities).filter(([name]) => plugin.capabilities?.[name] === true));
return {
  cniVersion: list.cniVersion,
  name: list.name,
  ...plugin,
  ...(prevResult ? { prevResult } : {}),
  ...(Object.keys(runtimeConfig).length > 0 ? { runtimeConfig } : {}),
};
