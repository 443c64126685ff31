// wrong: the first plugin whose DEL fails stops the others, which never free their part
// caught by: deletePlugins
for (const plugin of [...plugins].reverse()) {
  await execPlugin(plugin.type, pluginEnvironment('DEL', attachment, cniPath), pluginStdin(list, plugin, prevResult, attachment.capabilities), cniPath);
}
