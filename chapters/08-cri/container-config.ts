/**
 * CreateContainer's ContainerConfig, as a chapter 04 create request in a chapter 07 pod:
 *
 *   image.image          → the image (chapter 05; pulled before, by PullImage)
 *   command, args        → Kubernetes' command replaces the image's ENTRYPOINT and args its
 *                          CMD; conman's --entrypoint is one word, so command[0] is the
 *                          entrypoint and the rest of command goes before args
 *   envs                 → -e KEY=VALUE
 *   working_dir          → -w
 *   tty, stdin           → -t, -i
 *   metadata             → the container's name, unique in its pod per attempt
 *   (the sandbox)        → --pod
 *
 * Mounts, resources and the security context have no field in the request: container-spec.ts
 * writes them into the runtime spec.
 */
import { status as Status } from '@grpc/grpc-js';
import { grpcError } from './grpc-errors.ts';
import type { ContainerConfig } from './cri-proto.ts';

export interface ImageCreateRequest {
  image: string;
  name: string;
  pod: string;
  args: string[];
  entrypoint?: string;
  env: Record<string, string>;
  cwd?: string;
  tty: boolean;
  stdin: boolean;
}

export function containerNameOf(podName: string, metadata: { name: string; attempt: number }): string {
  return `${podName.slice(0, 80)}_${metadata.name.replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 40)}_${metadata.attempt}`;
}

export function createRequestOf(config: ContainerConfig, pod: { id: string; name: string }): ImageCreateRequest {
  if (!config.metadata?.name) throw grpcError(Status.INVALID_ARGUMENT, 'config.metadata.name is required');
  if (!config.image?.image) throw grpcError(Status.INVALID_ARGUMENT, 'config.image.image is required');
  const [entrypoint, ...commandRest] = config.command ?? [];
  return {
    image: config.image.image,
    name: containerNameOf(pod.name, config.metadata),
    pod: pod.id,
    args: [...commandRest, ...(config.args ?? [])],
    ...(entrypoint !== undefined ? { entrypoint } : {}),
    env: Object.fromEntries((config.envs ?? []).map((pair) => [pair.key, pair.value])),
    ...(config.working_dir ? { cwd: config.working_dir } : {}),
    tty: config.tty === true,
    stdin: config.stdin === true,
  };
}
