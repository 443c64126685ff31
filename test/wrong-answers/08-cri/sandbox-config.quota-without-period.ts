// wrong: a CPU limit from the quota alone: a period of 0 makes cpus Infinity
// caught by: podRequestOf
if (!config.metadata?.name) throw grpcError(Status.INVALID_ARGUMENT, 'config.metadata.name is required');
const options = config.linux?.security_context?.namespace_options;
const target = (['network', 'pid', 'ipc'] as const).find((type) => options?.[type] === 'TARGET');
if (target) throw grpcError(Status.INVALID_ARGUMENT, `${target} namespace TARGET is for a container (an ephemeral one joining another's), not a pod sandbox`);
const hostNetwork = options?.network === 'NODE';
// The host's IPC or PID namespace (hostIPC, hostPID): the pod makes none of its own.
const host: PodCreateRequest['host'] = [...(options?.ipc === 'NODE' ? ['ipc' as const] : []), ...(options?.pid === 'NODE' ? ['pid' as const] : [])];
const share: PodCreateRequest['share'] = options?.ipc === 'NODE' ? ['network', 'uts'] : ['network', 'ipc', 'uts'];
if (options?.pid === 'POD') share.push('pid');
const publish = (config.port_mappings ?? [])
  .filter((mapping) => mapping.host_port > 0)
  .map((mapping) => `${mapping.host_ip ? `${mapping.host_ip}:` : ''}${mapping.host_port}:${mapping.container_port}/${(mapping.protocol || 'TCP').toLowerCase()}`);
const resources = config.linux?.resources;
const quota = Number(resources?.cpu_quota ?? 0);
const period = Number(resources?.cpu_period ?? 0);
const memory = Number(resources?.memory_limit_in_bytes ?? 0);
return {
  name: podNameOf(config.metadata),
  ...(config.hostname ? { hostname: config.hostname } : {}),
  ...(hostNetwork ? { network: 'host' } : { publish }),
  ...(config.dns_config?.servers?.length ? { dns: config.dns_config.servers } : {}),
  share,
  ...(host.length > 0 ? { host } : {}),
  ...(quota > 0 ? { cpus: quota / period } : {}),
  ...(memory > 0 ? { memory } : {}),
};
