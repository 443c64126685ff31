/**
 * RunPodSandbox's PodSandboxConfig, as a chapter 07 pod: what kubelet asks for a pod's
 * sandbox becomes `conman pod create`'s request.
 *
 *   metadata (name, namespace, uid, attempt)  → the pod's name, unique per attempt
 *   hostname                                  → --hostname
 *   port_mappings                             → -p [IP:]HOST:CONTAINER/PROTO (host_port 0: none)
 *   dns_config.servers                        → --dns
 *   linux.security_context.namespace_options  → network NODE: --network host; pid POD: share pid;
 *                                               ipc or pid NODE: the host's (hostIPC, hostPID);
 *                                               TARGET: refused (it is for containers)
 *   linux.resources (cpu quota/period, memory) → --cpus, --memory
 */
import { createHash } from 'node:crypto';
import { grpcError } from './grpc-errors.ts';
import { status as Status } from '@grpc/grpc-js';
import type { PodSandboxConfig, PodSandboxMetadata } from './cri-proto.ts';
import type { PodCreateRequest } from '#lower/07-pods/pod-requests.ts';

/** The manager's names are at most 128 characters of [a-zA-Z0-9_.-]: Kubernetes' names, namespaces and uids fit, in part. */
export function podNameOf(metadata: PodSandboxMetadata): string {
  const part = (text: string, max: number) => text.replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, max);
  // The uid whole, hashed: two uids may share their first characters (critest's do).
  const uid = createHash('sha256').update(metadata.uid).digest('hex').slice(0, 12);
  return `k8s_${part(metadata.name, 50)}_${part(metadata.namespace, 40)}_${uid}_${metadata.attempt}`;
}

export function podRequestOf(config: PodSandboxConfig): PodCreateRequest {
  // EXERCISE(sandbox-config): a PodSandboxConfig as chapter 07's pod create request; INVALID_ARGUMENT for a missing name and for a TARGET namespace
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
    ...(quota > 0 && period > 0 ? { cpus: quota / period } : {}),
    ...(memory > 0 ? { memory } : {}),
  };
  // END EXERCISE
}
