// wrong: DEL without the cached result (portmap and firewall then exit 0 and leave their rules)
// caught by: deletePlugins
let first: unknown;
for (const plugin of [...plugins].reverse()) {
  try {
    await execPlugin(plugin.type, pluginEnvironment('DEL', attachment, cniPath), pluginStdin(list, plugin, undefined, attachment.capabilities), cniPath);
  } catch (error) {
    first ??= error;
  }
}
if (first) throw first;
