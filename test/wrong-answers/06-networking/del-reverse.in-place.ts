// wrong: plugins.reverse() turns the caller's own list round (the cache's, the ADD's)
// caught by: deletePlugins
let first: unknown;
for (const plugin of plugins.reverse()) {
  try {
    await execPlugin(plugin.type, pluginEnvironment('DEL', attachment, cniPath), pluginStdin(list, plugin, prevResult, attachment.capabilities), cniPath);
  } catch (error) {
    first ??= error;
  }
}
if (first) throw first;
