/**
 * What runs, as the runtime tells it: ListPodSandbox and ListContainers, grouped by the pod
 * uid label, with what the lists leave out (exit codes and times: ContainerStatus; the pod's
 * IP: PodSandboxStatus) asked once per container and state, and cached: an exited
 * container's exit never changes, nor a sandbox's IP.
 *
 * Only sandboxes that carry the io.kubernetes.pod.uid label are ours: other clients of the
 * same runtime (crictl runp, chapter 07's conman pod) are left alone.
 *
 * How real kubelet differs: its PLEG (pod lifecycle event generator) relists every second and
 * turns the differences into events (ContainerStarted, ContainerDied) that wake the pod's
 * worker; newer kubelets can get those events from the runtime as a stream instead
 * (GetContainerEvents, "evented PLEG"). It keeps a cache of pod statuses much as we do.
 */
import { ANNOTATION, LABEL } from './cri-configs.ts';
import type { Cri, Reply } from '#lower/08-cri/cri-client.ts';
import type { ActualContainer, ActualSandbox, ContainerState } from './sync-plan.ts';

const ms = (nanoseconds: string | undefined) => Number(BigInt(nanoseconds || '0') / 1_000_000n);

export interface ObservedContainer extends ActualContainer {
  sandboxId: string;
  init: boolean;
  /** ContainerStatus's reason (Completed, Error, OOMKilled) once exited. */
  reason: string;
  image: string;
  imageRef: string;
}

export interface ObservedSandbox extends ActualSandbox {
  name: string;
  namespace: string;
  ip: string;
  containers: ObservedContainer[];
}

export class ActualState {
  /** ContainerStatus replies by "id state": asked again only when the state changes. */
  private statuses = new Map<string, Reply>();
  private ips = new Map<string, string>();

  constructor(private readonly cri: Cri) {}

  async list(): Promise<ObservedSandbox[]> {
    const [{ items }, { containers }] = await Promise.all([this.cri.runtime('ListPodSandbox', { filter: {} }), this.cri.runtime('ListContainers', { filter: {} })]);
    const ours = (items as Reply[]).filter((sandbox) => sandbox.labels?.[LABEL.podUid]);
    const sandboxes = new Map<string, ObservedSandbox>();
    for (const sandbox of ours) {
      const ready = sandbox.state === 'SANDBOX_READY';
      sandboxes.set(sandbox.id, {
        id: sandbox.id,
        uid: sandbox.labels[LABEL.podUid],
        name: sandbox.metadata.name,
        namespace: sandbox.metadata.namespace,
        attempt: sandbox.metadata.attempt,
        ready,
        hash: sandbox.annotations?.[ANNOTATION.sandboxHash] ?? '',
        createdAt: ms(sandbox.created_at),
        ip: ready ? await this.ipOf(sandbox.id) : '',
        containers: [],
      });
    }
    const seen = new Set<string>();
    for (const container of containers as Reply[]) {
      const sandbox = sandboxes.get(container.pod_sandbox_id);
      if (!sandbox) continue;
      const status = await this.statusOf(container.id, container.state);
      if (!status) continue; // removed between the two calls
      seen.add(`${container.id} ${container.state}`);
      sandbox.containers.push({
        id: container.id,
        sandboxId: sandbox.id,
        name: container.labels?.[LABEL.containerName] ?? container.metadata.name,
        attempt: container.metadata.attempt,
        hash: container.annotations?.[ANNOTATION.containerHash] ?? '',
        restartCount: Number(container.annotations?.[ANNOTATION.restartCount] ?? 0),
        init: container.annotations?.[ANNOTATION.containerType] === 'init',
        state: container.state as ContainerState,
        exitCode: status.exit_code ?? 0,
        startedAt: ms(status.started_at),
        finishedAt: ms(status.finished_at),
        reason: status.reason ?? '',
        image: container.image?.image ?? '',
        imageRef: container.image_ref ?? '',
      });
    }
    // Forget what is gone, so that the caches do not grow for ever.
    for (const key of this.statuses.keys()) if (!seen.has(key)) this.statuses.delete(key);
    for (const id of this.ips.keys()) if (!sandboxes.has(id)) this.ips.delete(id);
    return [...sandboxes.values()];
  }

  private async statusOf(id: string, state: string): Promise<Reply | undefined> {
    const key = `${id} ${state}`;
    let status = this.statuses.get(key);
    if (!status) {
      status = (await this.cri.runtime('ContainerStatus', { container_id: id }).catch(() => undefined))?.status as Reply | undefined;
      if (status) this.statuses.set(key, status);
    }
    return status;
  }

  private async ipOf(sandboxId: string): Promise<string> {
    const known = this.ips.get(sandboxId);
    if (known !== undefined) return known;
    const status = (await this.cri.runtime('PodSandboxStatus', { pod_sandbox_id: sandboxId }).catch(() => undefined))?.status as Reply | undefined;
    const ip: string = status?.network?.ip ?? '';
    if (status) this.ips.set(sandboxId, ip);
    return ip;
  }
}
