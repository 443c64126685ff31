/**
 * A container as ContainerStatus tells it: the manager's status becomes the CRI's state, and
 * an exited container gets the reason kubelet shows (`kubectl get pods`: OOMKilled,
 * Completed, Error) beside its exit code.
 */
import type { ContainerInfo } from '#lower/04-manager/container-api.ts';
import type { ContainerState } from './cri-proto.ts';

export function containerStateOf(status: ContainerInfo['status']): ContainerState {
  switch (status) {
    case 'created':
      return 'CONTAINER_CREATED';
    case 'running':
    case 'restarting':
      return 'CONTAINER_RUNNING';
    case 'exited':
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

/** Why it exited, in kubelet's words: the OOM killer first (its exit code is only 137). */
export function exitReasonOf(container: Pick<ContainerInfo, 'status' | 'exit'>): string {
  if (container.status !== 'exited' || !container.exit) return '';
  if (container.exit.oomKilled) return 'OOMKilled';
  return container.exit.exitCode === 0 ? 'Completed' : 'Error';
}
