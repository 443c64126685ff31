/**
 * PodApi is what the command line uses for pods: the Pods themselves (conman --no-daemon) or
 * PodClient (conmand's socket, its /pods endpoints: pod-api.ts), as chapter 04's ContainerApi
 * is the Manager or its ApiClient.
 */
import type { ApiClient } from '#lower/04-manager/client.ts';
import type { PodStats } from './pod-cgroup.ts';
import type { PodInfo, Pods } from './pods.ts';

export type PodApi = Pick<Pods, 'create' | 'start' | 'stop' | 'remove' | 'list' | 'inspect' | 'stats'>;

/** The pods of a conmand, over its socket. */
export class PodClient implements PodApi {
  constructor(private readonly api: ApiClient) {}

  private at(ref: string): string {
    return `/pods/${encodeURIComponent(ref)}`;
  }

  create(body: unknown): Promise<{ id: string; name: string }> {
    return this.api.json('POST', '/pods', body);
  }

  start(ref: string): Promise<PodInfo> {
    return this.api.json('POST', `${this.at(ref)}/start`);
  }

  stop(ref: string, timeoutSeconds?: number): Promise<PodInfo> {
    return this.api.json('POST', `${this.at(ref)}/stop${timeoutSeconds === undefined ? '' : `?t=${timeoutSeconds}`}`);
  }

  async remove(ref: string, force = false): Promise<void> {
    await this.api.json('DELETE', `${this.at(ref)}${force ? '?force=1' : ''}`);
  }

  list(): Promise<PodInfo[]> {
    return this.api.json('GET', '/pods');
  }

  inspect(ref: string): Promise<PodInfo> {
    return this.api.json('GET', this.at(ref));
  }

  stats(ref: string): Promise<PodStats & { id: string; name: string }> {
    return this.api.json('GET', `${this.at(ref)}/stats`);
  }
}
