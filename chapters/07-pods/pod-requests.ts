/**
 * What `pod create` may ask for (POST /pods), checked before anything is made.
 *
 *   name      unique among pods (default: the short id)
 *   hostname  the pod's, seen by every container in it (default: the pod's name)
 *   network, publish, dns   the pod's network, as chapter 06's run takes them (the infra's);
 *   dnsSearch, dnsOptions   and its resolv.conf's search domains and options
 *   share     namespaces its containers share: network, ipc, uts (default) and pid
 *   host      namespaces its containers take from the host: ipc, pid (Kubernetes' hostIPC,
 *             hostPID; the network's is `network: "host"`)
 *   cpus      CPUs' worth of time for the whole pod (1.5), memory  bytes for the whole pod
 *   cgroup    the pod's cgroup, as a path from the root of each hierarchy ("/kubepods/pod1"),
 *             when its caller keeps a tree of its own (kubelet); default <cgroup parent>/pod-<id>
 */
import { badRequest } from '#lower/04-manager/errors.ts';
import { HOSTNAME_PATTERN, NAME_PATTERN } from '#lower/04-manager/requests.ts';
import { DEFAULT_SHARE, type HostNamespace, type SharedNamespace } from './pod-records.ts';

export interface PodCreateRequest {
  name?: string;
  hostname?: string;
  network?: string;
  publish?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  share?: SharedNamespace[];
  host?: HostNamespace[];
  cgroup?: string;
  cpus?: number;
  memory?: number;
}

const FIELDS: Record<keyof PodCreateRequest, 'string' | 'string[]' | 'number'> = {
  name: 'string',
  hostname: 'string',
  network: 'string',
  publish: 'string[]',
  dns: 'string[]',
  dnsSearch: 'string[]',
  dnsOptions: 'string[]',
  share: 'string[]',
  host: 'string[]',
  cgroup: 'string',
  cpus: 'number',
  memory: 'number',
};
const SHAREABLE: SharedNamespace[] = ['network', 'ipc', 'uts', 'pid'];
/** Below this a pod cannot even start its infra (runc itself needs a few MiB while it sets up). */
export const MIN_POD_MEMORY = 6 * 1024 * 1024;

export function checkPodCreateRequest(body: unknown): PodCreateRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('a pod create request is a JSON object');
  for (const [key, value] of Object.entries(body)) {
    const type = FIELDS[key as keyof PodCreateRequest];
    if (!type) throw badRequest(`unknown field "${key}" in a pod create request (known: ${Object.keys(FIELDS).join(', ')})`);
    const ok = type === 'string[]' ? Array.isArray(value) && value.every((item) => typeof item === 'string') : typeof value === type;
    if (!ok) throw badRequest(`field "${key}" must be ${type === 'string[]' ? 'a list of strings' : `a ${type}`}`);
  }
  const request = body as PodCreateRequest;
  if (request.name !== undefined && !NAME_PATTERN.test(request.name)) throw badRequest(`field "name": ${JSON.stringify(request.name)} is not a valid name (a letter or digit, then letters, digits, "_", "." or "-")`);
  if (request.hostname !== undefined && !HOSTNAME_PATTERN.test(request.hostname)) throw badRequest(`field "hostname": ${JSON.stringify(request.hostname)} is not a hostname`);
  for (const namespace of request.share ?? []) {
    if (!SHAREABLE.includes(namespace)) throw badRequest(`field "share": "${namespace}" cannot be shared (${SHAREABLE.join(', ')} can)`);
  }
  for (const namespace of request.host ?? []) {
    if (namespace !== 'ipc' && namespace !== 'pid') throw badRequest(`field "host": "${namespace}" cannot be the host's here (ipc and pid can; for the network, "network": "host")`);
    if (request.share?.includes(namespace)) throw badRequest(`field "host": the ${namespace} namespace is either shared by the pod or the host's, not both`);
  }
  if (request.share && !request.share.includes('network') && (request.publish?.length || request.network)) {
    throw badRequest('field "share": a pod that does not share its network cannot publish ports or choose a network');
  }
  if (request.cgroup !== undefined && !/^(\/[a-zA-Z0-9_.:-]+)+$/.test(request.cgroup)) throw badRequest(`field "cgroup": ${JSON.stringify(request.cgroup)} is not a cgroup path from the root ("/kubepods/pod1": names of letters, digits and _.:-)`);
  if (request.cgroup?.split('/').some((part) => part === '.' || part === '..')) throw badRequest(`field "cgroup": ${JSON.stringify(request.cgroup)} may not climb with "." or ".."`);
  if (request.cpus !== undefined && !(request.cpus >= 0.01 && request.cpus <= 1024)) throw badRequest(`field "cpus" must be from 0.01 to 1024, not ${request.cpus}`);
  if (request.memory !== undefined && !(Number.isInteger(request.memory) && request.memory >= MIN_POD_MEMORY)) {
    throw badRequest(`field "memory" must be a whole number of bytes, at least ${MIN_POD_MEMORY} (6 MiB), not ${request.memory}`);
  }
  const host = [...new Set(request.host ?? [])];
  const share = request.share ? [...new Set(request.share)] : DEFAULT_SHARE.filter((namespace) => !host.includes(namespace as HostNamespace));
  return { ...request, share, ...(host.length > 0 ? { host } : {}) };
}
