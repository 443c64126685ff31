// wrong: a plugin that fails half-way is reported, but what the plugins before it did stays
// caught by: fails half-way
for (const plugin of list.plugins) {
  try {
    result = await execPlugin(plugin.type, pluginEnvironment('ADD', attachment, cniPath), pluginStdin(list, plugin, result, attachment.capabilities), cniPath);
  } catch (error) {
    cache.remove();
    throw error;
  }
}
