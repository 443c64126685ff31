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
import { notImplemented } from '#lib/not-implemented.ts';

/** The manager's names are at most 128 characters of [a-zA-Z0-9_.-]: Kubernetes' names, namespaces and uids fit, in part. */
export function podNameOf(metadata: PodSandboxMetadata): string {
  const part = (text: string, max: number) => text.replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, max);
  // The uid whole, hashed: two uids may share their first characters (critest's do).
  const uid = createHash('sha256').update(metadata.uid).digest('hex').slice(0, 12);
  return `k8s_${part(metadata.name, 50)}_${part(metadata.namespace, 40)}_${uid}_${metadata.attempt}`;
}

export function podRequestOf(config: PodSandboxConfig): PodCreateRequest {
  // EXERCISE(sandbox-config): a PodSandboxConfig as chapter 07's pod create request; INVALID_ARGUMENT for a missing name and for a TARGET namespace
  throw notImplemented("08-cri/sandbox-config", "a PodSandboxConfig as chapter 07's pod create request; INVALID_ARGUMENT for a missing name and for a TARGET namespace");
  // END EXERCISE
}
