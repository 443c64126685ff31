// wrong: CNI_ARGS pairs joined with "," (the spec says ";")
// caught by: pluginEnvironment
const env: Record<string, string> = { CNI_COMMAND: command, CNI_PATH: cniPath.join(path.delimiter), PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
if (attachment) {
  env.CNI_CONTAINERID = attachment.containerId;
  env.CNI_NETNS = attachment.netns;
  env.CNI_IFNAME = attachment.ifname;
  env.CNI_ARGS = (attachment.args ?? []).map(([key, value]) => `${key}=${value}`).join(',');
}
return env;
