// wrong: the CPU limit as quota / 100000, whatever period kubelet sent
// caught by: podRequestOf
if (!config.metadata?.name) throw grpcError(Status.INVALID_ARGUMENT, 'config.metadata.name is required');
const options = config.linux?.security_context?.namespace_options;
if (options?.ipc === 'NODE') throw grpcError(Status.INVALID_ARGUMENT, 'ipc namespace NODE (hostIPC) is not supported by conman');
if (options?.pid === 'NODE') throw grpcError(Status.INVALID_ARGUMENT, 'pid namespace NODE (hostPID) is not supported by conman');
const share: PodCreateRequest['share'] = ['network', 'ipc', 'uts'];
if (options?.pid === 'POD') share.push('pid');
const publish = (config.port_mappings ?? [])
  .filter((mapping) => mapping.host_port > 0)
  .map((mapping) => `${mapping.host_ip ? `${mapping.host_ip}:` : ''}${mapping.host_port}:${mapping.container_port}/${(mapping.protocol || 'TCP').toLowerCase()}`);
const quota = Number(config.linux?.resources?.cpu_quota ?? 0);
const memory = Number(config.linux?.resources?.memory_limit_in_bytes ?? 0);
return {
  name: podNameOf(config.metadata),
  ...(config.hostname ? { hostname: config.hostname } : {}),
  ...(options?.network === 'NODE' ? { network: 'host' } : { publish }),
  ...(config.dns_config?.servers?.length ? { dns: config.dns_config.servers } : {}),
  share,
  ...(quota > 0 ? { cpus: quota / 100_000 } : {}),
  ...(memory > 0 ? { memory } : {}),
};
