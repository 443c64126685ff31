// wrong: each plugin is run alone, without the result of the one before (the last one's result is kept)
// caught by: addNetwork
for (const [i, plugin] of list.plugins.entries()) {
  try {
    const own = await execPlugin(plugin.type, pluginEnvironment('ADD', attachment, cniPath), pluginStdin(list, plugin, undefined, attachment.capabilities), cniPath);
    if (own.ips || !result) result = own;
  } catch (error) {
    await deletePlugins(list, list.plugins.slice(0, i + 1), attachment, result, cniPath).catch(() => {});
    cache.remove();
    throw error;
  }
}
