// wrong: the plugin gets all of conman's environment (secrets and stray CNI_ variables included)
// caught by: pluginEnvironment
const env: Record<string, string> = { ...(process.env as Record<string, string>), CNI_COMMAND: command, CNI_PATH: cniPath.join(path.delimiter) };
if (attachment) {
  env.CNI_CONTAINERID = attachment.containerId;
  env.CNI_NETNS = attachment.netns;
  env.CNI_IFNAME = attachment.ifname;
  env.CNI_ARGS = (attachment.args ?? []).map(([key, value]) => `${key}=${value}`).join(';');
}
return env;
