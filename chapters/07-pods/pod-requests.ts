/**
 * What `pod create` may ask for (POST /pods), checked before anything is made.
 *
 *   name      unique among pods (default: the short id)
 *   hostname  the pod's, seen by every container in it (default: the pod's name)
 *   network, publish, dns   the pod's network, as chapter 06's run takes them (the infra's)
 *   share     namespaces its containers share: network, ipc, uts (default) and pid
 *   cpus      CPUs' worth of time for the whole pod (1.5), memory  bytes for the whole pod
 */
import { badRequest } from '#lower/04-manager/errors.ts';
import { HOSTNAME_PATTERN, NAME_PATTERN } from '#lower/04-manager/requests.ts';
import { DEFAULT_SHARE, type SharedNamespace } from './pod-records.ts';

export interface PodCreateRequest {
  name?: string;
  hostname?: string;
  network?: string;
  publish?: string[];
  dns?: string[];
  share?: SharedNamespace[];
  cpus?: number;
  memory?: number;
}

const FIELDS: Record<keyof PodCreateRequest, 'string' | 'string[]' | 'number'> = {
  name: 'string',
  hostname: 'string',
  network: 'string',
  publish: 'string[]',
  dns: 'string[]',
  share: 'string[]',
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
  if (request.share && !request.share.includes('network') && (request.publish?.length || request.network)) {
    throw badRequest('field "share": a pod that does not share its network cannot publish ports or choose a network');
  }
  if (request.cpus !== undefined && !(request.cpus >= 0.01 && request.cpus <= 1024)) throw badRequest(`field "cpus" must be from 0.01 to 1024, not ${request.cpus}`);
  if (request.memory !== undefined && !(Number.isInteger(request.memory) && request.memory >= MIN_POD_MEMORY)) {
    throw badRequest(`field "memory" must be a whole number of bytes, at least ${MIN_POD_MEMORY} (6 MiB), not ${request.memory}`);
  }
  return { ...request, share: request.share ? [...new Set(request.share)] : [...DEFAULT_SHARE] };
}
