// wrong: DEL in the order of ADD (the bridge goes before portmap has removed its rules)
// caught by: deletePlugins
let first: unknown;
for (const plugin of plugins) {
  try {
    await execPlugin(plugin.type, pluginEnvironment('DEL', attachment, cniPath), pluginStdin(list, plugin, prevResult, attachment.capabilities), cniPath);
  } catch (error) {
    first ??= error;
  }
}
if (first) throw first;
