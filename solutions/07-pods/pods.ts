/**
 * Pods over chapter 04's Manager: the PodProvider it asks (pod-provider.ts there), and the pod
 * operations conmand serves on /pods (pod-api.ts).
 *
 *   create   record, cgroup with the pod's limits, infra container made and started (the
 *            pod runs from then on, as a CRI RunPodSandbox leaves it)
 *   start    the infra first (it makes the namespaces), then every other container
 *   stop     the other containers first, the infra last (it holds what they use)
 *   rm       every container (-f: running ones too), the cgroup, the record; the network
 *            goes with the infra (chapter 06's provider detaches it), the shim exits with
 *            its last container
 *
 * A pod's containers are the Manager's containers whose record names the pod; its state is
 * theirs. Nothing about pods needs recovering after a crash beyond what the Manager recovers:
 * the records on disk say what each pod is, the containers say how it is.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerInfo } from '#lower/04-manager/container-api.ts';
import { shortId } from '#lower/04-manager/defaults.ts';
import { badRequest, conflict, ManagerError } from '#lower/04-manager/errors.ts';
import { KeyedLock } from '#lower/04-manager/keyed-lock.ts';
import type { Manager } from '#lower/04-manager/manager.ts';
import type { FileMount } from '#lower/04-manager/network-provider.ts';
import type { NamespacePath, PodPlan, PodPlanRequest, PodProvider } from '#lower/04-manager/pod-provider.ts';
import type { StartShimOptions } from '#lower/03-shim/client.ts';
import { removeCgroupTree } from '#lib/host/cgroups.ts';
import { createPodCgroup, podCgroupPath, readPodStats, type PodStats } from './pod-cgroup.ts';
import { infraNamespaces } from './pod-namespaces.ts';
import { PodStore, type PodRecord } from './pod-records.ts';
import { checkPodCreateRequest } from './pod-requests.ts';
import { podShimOf, startInPodShim } from './pod-shim-client.ts';
import { ensureInfraRootfs, INFRA_COMMAND } from './infra.ts';

/** created: nothing runs; running: all run; degraded: the infra runs, some others do not; exited: none runs. */
export type PodStatus = 'created' | 'running' | 'degraded' | 'exited';

export interface PodInfo extends PodRecord {
  status: PodStatus;
  /** Every container of the pod, the infra first. */
  containers: { id: string; name: string; status: string; infra: boolean }[];
  /** The pod's address, while its infra runs on a network. */
  ip?: string;
  ports: string[];
  /** The pod shim's PID, while it runs. */
  shimPid?: number;
}

/** The files a member mounts from its infra: the network's /etc files (chapter 06 writes them). */
const POD_FILES = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'];

/**
 * A pod's name as its default hostname: a name may hold "_" and "." and run to 128
 * characters, a hostname label may not (letters, digits, "-", 63 at most). CRI pods are named
 * k8s_<name>_<namespace>_..., so their hostname is k8s-<name>-<namespace>-..., cut.
 */
export function hostnameOf(podName: string): string {
  return podName.replace(/[^a-zA-Z0-9-]/g, '-').slice(0, 63).replace(/^-+|-+$/g, '') || 'pod';
}

export class Pods implements PodProvider {
  private readonly store: PodStore;
  private readonly pods = new Map<string, PodRecord>();
  private readonly lock = new KeyedLock();
  /** The pod whose infra is being created now (plan() says "infra" to that one create only). */
  private readonly creatingInfra = new Set<string>();
  /** Pods being removed: only then may their infra go. */
  private readonly removing = new Set<string>();

  constructor(private readonly manager: Manager) {
    this.store = new PodStore(manager.root);
    for (const record of this.store.loadAll()) this.pods.set(record.id, record);
  }

  /** The pod's folder in the run root: its shim's socket, pid file and log. Short: it holds a socket path. */
  runDir(id: string): string {
    return path.join(this.manager.runRoot, 'pods', shortId(id));
  }

  /** A name, a full id or a unique prefix of one → the pod. */
  resolve(ref: string): PodRecord {
    const byId = this.pods.get(ref);
    if (byId) return byId;
    for (const pod of this.pods.values()) if (pod.name === ref) return pod;
    const matches = ref.length > 0 ? [...this.pods.values()].filter((pod) => pod.id.startsWith(ref)) : [];
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw badRequest(`"${ref}" matches ${matches.length} pods: give more of the id`);
    throw new ManagerError(404, `no such pod: ${ref}`);
  }

  /** The pod's containers, the infra first; their records are the Manager's. */
  private async containersOf(pod: PodRecord): Promise<ContainerInfo[]> {
    const all = (await this.manager.list(true)).filter((container) => container.pod?.id === pod.id);
    return all.sort((a, b) => Number(b.id === pod.infra) - Number(a.id === pod.infra) || a.created.localeCompare(b.created));
  }

  // ----- PodProvider: what the Manager asks while it creates and starts a container -----

  async plan(request: PodPlanRequest): Promise<PodPlan> {
    const pod = this.resolve(request.pod);
    const cgroupParent = `/${pod.cgroup}`;
    const host = pod.hostNamespaces?.length ? { hostNamespaces: pod.hostNamespaces } : {};
    if (this.creatingInfra.has(pod.id)) return { pod: pod.id, role: 'infra', cgroupParent, mounts: [], ...host };
    if (!pod.infra) throw conflict(`pod ${pod.name} has no infra container (its create failed half-way): remove it (conman pod rm -f ${pod.name})`);
    // Its network is the pod's: asking for another one could only be a mistake.
    const field = (['hostname', 'network', 'publish', 'dns', 'dnsSearch', 'dnsOptions'] as const).find((name) => request[name] !== undefined && !(Array.isArray(request[name]) && request[name]!.length === 0));
    if (field) throw badRequest(`field "${field}": a container in a pod has the pod's network and hostname; give it to \`conman pod create\` instead`);
    return { pod: pod.id, role: 'member', cgroupParent, mounts: pod.share.includes('network') ? await this.infraFiles(pod.infra) : [], ...host };
  }

  /** The /etc files of the infra's bundle (chapter 06's hosts, hostname, resolv.conf), for a member to mount too. */
  private async infraFiles(infra: string): Promise<FileMount[]> {
    try {
      const { bundle } = await this.manager.inspect(infra);
      const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { mounts?: { destination: string; source: string; type?: string }[] };
      return (spec.mounts ?? []).filter((mount) => mount.type === 'bind' && POD_FILES.includes(mount.destination)).map(({ destination, source }) => ({ destination, source }));
    } catch {
      return [];
    }
  }

  async namespaces(podId: string): Promise<NamespacePath[]> {
    const pod = this.resolve(podId);
    const infra = pod.infra ? await this.manager.inspect(pod.infra).catch(() => undefined) : undefined;
    if (!infra) throw conflict(`pod ${pod.name} has lost its infra container: remove the pod (conman pod rm -f ${pod.name})`);
    if (infra.status !== 'running' || !infra.pid) throw conflict(`pod ${pod.name} is not running (its infra container is ${infra.status}): start it first (conman pod start ${pod.name})`);
    return infraNamespaces(infra.pid, pod.share);
  }

  checkRemoveInfra(podId: string): void {
    const pod = this.pods.get(podId);
    if (pod && !this.removing.has(podId)) throw conflict(`container ${pod.infra ? shortId(pod.infra) : ''} is the infra container of pod ${pod.name}, which holds its namespaces: remove the pod (conman pod rm ${pod.name})`);
  }

  /** One shim per pod: started with the pod's first container, given every later one. */
  startShim(podId: string, options: StartShimOptions) {
    return this.lock.run(`shim:${podId}`, () => startInPodShim(this.runDir(podId), options));
  }

  // ----- the pod operations -----

  async create(body: unknown): Promise<{ id: string; name: string }> {
    const request = checkPodCreateRequest(body);
    const infraRootfs = await ensureInfraRootfs(this.manager.root);
    return this.lock.run('\0names', async () => {
      if (request.name !== undefined && [...this.pods.values()].some((pod) => pod.name === request.name)) {
        throw conflict(`the pod name "${request.name}" is already in use: remove that pod, or choose another name`);
      }
      const id = randomBytes(32).toString('hex');
      const name = request.name ?? shortId(id);
      const pod: PodRecord = {
        id,
        name,
        created: new Date().toISOString(),
        hostname: request.hostname ?? hostnameOf(name),
        ...(request.host?.length ? { hostNamespaces: request.host } : {}),
        ...(request.network !== undefined ? { network: request.network } : {}),
        publish: request.publish ?? [],
        dns: request.dns ?? [],
        ...(request.dnsSearch?.length ? { dnsSearch: request.dnsSearch } : {}),
        ...(request.dnsOptions?.length ? { dnsOptions: request.dnsOptions } : {}),
        share: request.share!,
        limits: { ...(request.memory !== undefined ? { memory: request.memory } : {}), ...(request.cpus !== undefined ? { cpus: request.cpus } : {}) },
        cgroup: request.cgroup ? request.cgroup.replace(/^\/+/, '') : podCgroupPath(this.manager.cgroupParent, id),
      };
      this.store.save(pod);
      this.pods.set(id, pod);
      try {
        createPodCgroup(pod.cgroup, pod.limits);
        this.creatingInfra.add(id);
        const infra = await this.manager
          .create({
            rootfs: infraRootfs,
            args: INFRA_COMMAND,
            name: `${shortId(id)}-infra`,
            hostname: pod.hostname,
            ...(pod.share.includes('network') ? { network: pod.network, publish: pod.publish, dns: pod.dns, ...(pod.dnsSearch ? { dnsSearch: pod.dnsSearch } : {}), ...(pod.dnsOptions ? { dnsOptions: pod.dnsOptions } : {}) } : {}),
            pod: id,
          })
          .finally(() => this.creatingInfra.delete(id));
        pod.infra = infra.id;
        this.store.save(pod);
        await this.manager.start(infra.id);
      } catch (error) {
        await this.removeLocked(pod, true).catch((undo: Error) => console.error(`conman: undoing pod ${name}: ${undo.message}`));
        throw error;
      }
      return { id, name };
    });
  }

  async start(ref: string): Promise<PodInfo> {
    const pod = this.resolve(ref);
    return this.lock.run(pod.id, async () => {
      createPodCgroup(pod.cgroup, pod.limits); // (gone after a reboot)
      const containers = await this.containersOf(pod);
      const infra = containers.find((container) => container.id === pod.infra);
      if (!infra) throw conflict(`pod ${pod.name} has lost its infra container: remove the pod (conman pod rm -f ${pod.name})`);
      if (infra.status !== 'running') await this.manager.start(infra.id);
      // The others once the infra's namespaces exist; together, they do not wait for each other.
      const results = await Promise.allSettled(containers.filter((c) => c.id !== infra.id && c.status !== 'running').map((c) => this.manager.start(c.id)));
      const failed = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed.length > 0) throw conflict(`pod ${pod.name}: ${failed.length} of its containers did not start: ${failed.map((f) => (f.reason as Error).message).join('; ')}`);
      return this.infoOf(pod);
    });
  }

  async stop(ref: string, timeoutSeconds?: number): Promise<PodInfo> {
    const pod = this.resolve(ref);
    return this.lock.run(pod.id, async () => {
      await this.stopLocked(pod, timeoutSeconds);
      return this.infoOf(pod);
    });
  }

  /** The members first, together; the infra last: until then it holds their network and IPC. */
  private async stopLocked(pod: PodRecord, timeoutSeconds?: number): Promise<void> {
    const containers = await this.containersOf(pod);
    const members = containers.filter((c) => c.id !== pod.infra && (c.status === 'running' || c.status === 'restarting'));
    await Promise.all(members.map((c) => this.manager.stop(c.id, timeoutSeconds)));
    const infra = containers.find((c) => c.id === pod.infra);
    if (infra?.status === 'running') await this.manager.stop(infra.id, timeoutSeconds);
  }

  async remove(ref: string, force = false): Promise<void> {
    const pod = this.resolve(ref);
    await this.lock.run(pod.id, () => this.removeLocked(pod, force));
  }

  private async removeLocked(pod: PodRecord, force: boolean): Promise<void> {
    const containers = await this.containersOf(pod);
    const running = containers.filter((c) => c.status === 'running' || c.status === 'restarting');
    if (running.length > 0 && !force) throw conflict(`pod ${pod.name} has ${running.length} running containers: stop it first (conman pod stop), or remove it with pod rm -f`);
    this.removing.add(pod.id);
    try {
      await this.removeContainersOf(pod, containers);
    } finally {
      this.removing.delete(pod.id);
    }
  }

  /** Every container, the pod's cgroup, its shim's folder and its record. */
  private async removeContainersOf(pod: PodRecord, containers: ContainerInfo[]): Promise<void> {
    // Members before the infra, as in stop: a member's start may still be joining the infra.
    for (const container of containers.filter((c) => c.id !== pod.infra)) await this.manager.remove(container.id, true);
    const infra = containers.find((c) => c.id === pod.infra);
    if (infra) await this.manager.remove(infra.id, true);
    await removeCgroupTree(pod.cgroup); // (what still runs in it is killed first)
    // The pod shim exits when its last container is deleted; one that did not (killed mid-way) has no container left to keep.
    const shim = podShimOf(this.runDir(pod.id));
    if (shim) process.kill(shim.pid, 'SIGKILL');
    fs.rmSync(this.runDir(pod.id), { recursive: true, force: true });
    this.store.remove(pod.id);
    this.pods.delete(pod.id);
  }

  async list(): Promise<PodInfo[]> {
    const pods = [...this.pods.values()].sort((a, b) => b.created.localeCompare(a.created));
    return Promise.all(pods.map((pod) => this.infoOf(pod)));
  }

  async inspect(ref: string): Promise<PodInfo> {
    return this.infoOf(this.resolve(ref));
  }

  async stats(ref: string): Promise<PodStats & { id: string; name: string }> {
    const pod = this.resolve(ref);
    const stats = readPodStats(pod.cgroup);
    // cgroup v1 counts an OOM kill only in the killed container's own cgroup, which goes with
    // the container: there, count the containers whose last exit was one.
    if (stats.oomKills === undefined) stats.oomKills = (await this.containersOf(pod)).filter((c) => c.exit?.oomKilled).length;
    return { id: pod.id, name: pod.name, ...stats, oomKills: stats.oomKills };
  }

  private async infoOf(pod: PodRecord): Promise<PodInfo> {
    const containers = await this.containersOf(pod);
    const infra = containers.find((c) => c.id === pod.infra);
    const isRunning = (c: ContainerInfo) => c.status === 'running';
    const status: PodStatus =
      containers.length > 0 && containers.every(isRunning) ? 'running'
      : infra && isRunning(infra) ? 'degraded'
      : containers.every((c) => c.status === 'created') ? 'created'
      : 'exited';
    const shim = podShimOf(this.runDir(pod.id));
    return {
      ...structuredClone(pod),
      status,
      containers: containers.map((c) => ({ id: c.id, name: c.name, status: c.status, infra: c.id === pod.infra })),
      ...(infra?.networkStatus?.ip ? { ip: infra.networkStatus.ip } : {}),
      ports: infra?.networkStatus?.ports ?? [],
      ...(shim ? { shimPid: shim.pid } : {}),
    };
  }
}
