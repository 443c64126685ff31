// wrong: a failure of the undoing is swallowed and the cache removed: the error hides it, and what is left (a lease, a veth) is never deleted
// caught by: fails half-way
for (const [i, plugin] of list.plugins.entries()) {
  try {
    result = await execPlugin(plugin.type, pluginEnvironment('ADD', attachment, cniPath), pluginStdin(list, plugin, result, attachment.capabilities), cniPath);
  } catch (error) {
    try {
      await deletePlugins(list, list.plugins.slice(0, i + 1), attachment, result, cniPath);
    } catch {
      // best effort: the error that matters is the ADD's
    }
    cache.remove();
    throw error;
  }
}
