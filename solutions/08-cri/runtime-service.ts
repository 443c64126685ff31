/**
 * RuntimeService: kubelet's calls for pods and containers, each turned into the manager's own
 * (chapter 04) and its pods' (chapter 07). Every Stop and Remove succeeds for an id it does
 * not know: kubelet retries them after a crash of its own, and "already gone" is done.
 */
import * as grpc from '@grpc/grpc-js';
import type { Spec } from '#lib/oci-spec.ts';
import type { ContainerInfo } from '#lower/04-manager/container-api.ts';
import type { Manager } from '#lower/04-manager/manager.ts';
import type { Session } from '#lower/04-manager/session.ts';
import type { Pods } from '#lower/07-pods/pods.ts';
import { createRequestOf } from './container-config.ts';
import { specEditorFor } from './container-spec.ts';
import { containerStateOf, exitReasonOf } from './container-status.ts';
import { containerUsage, usageOf } from './cri-stats.ts';
import { runToEnd } from './exec-sync.ts';
import { nanoseconds, type ContainerConfig, type Labels, type PodSandboxConfig } from './cri-proto.ts';
import type { ContainerMeta, CriStore, SandboxMeta } from './cri-store.ts';
import { grpcError } from './grpc-errors.ts';
import type { ImageService } from './image-service.ts';
import type { StreamingServer } from './streaming.ts';
import { podRequestOf } from './sandbox-config.ts';
import fs from 'node:fs';
import path from 'node:path';

export const RUNTIME_NAME = 'conman';
export const RUNTIME_VERSION = '0.1.0';

type Request = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Does an object carry every label of the selector (ListPodSandbox's and ListContainers' label_selector)? */
export function matchesLabels(labels: Labels, selector: Labels | undefined): boolean {
  return Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value);
}

/** A container's config.json, or undefined if it cannot be read (its bundle is gone). */
function readSpec(bundle: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Ignore "no such ..." (a Stop or Remove of something already gone); rethrow the rest. */
async function unlessGone(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if ((error as { status?: number }).status !== 404) throw error;
  }
}

export class RuntimeService {
  constructor(
    private readonly manager: Manager,
    private readonly pods: Pods,
    private readonly store: CriStore,
    private readonly images: ImageService,
    private readonly streaming: StreamingServer,
  ) {}

  version(): object {
    return { version: RUNTIME_VERSION, runtime_name: RUNTIME_NAME, runtime_version: RUNTIME_VERSION, runtime_api_version: 'v1' };
  }

  status(): object {
    return {
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          // Chapter 08's conmand always has chapter 06's CNI networks (with-cri.ts).
          { type: 'NetworkReady', status: true, reason: '', message: '' },
        ],
      },
      info: {},
    };
  }

  runtimeConfig(): object {
    return { linux: { cgroup_driver: 'CGROUPFS' } };
  }

  // ----- sandboxes -----

  async runPodSandbox({ config }: Request): Promise<object> {
    const sandbox = config as PodSandboxConfig;
    // The same pod and attempt twice is ALREADY_EXISTS (containerd says so too): kubelet asks
    // again with attempt + 1 when it wants a new sandbox.
    const same = (m: PodSandboxConfig['metadata']) => (meta: SandboxMeta) => !!m && meta.metadata.name === m.name && meta.metadata.namespace === m.namespace && meta.metadata.uid === m.uid && meta.metadata.attempt === m.attempt;
    const existing = this.store.sandboxes.list().find(same(sandbox.metadata));
    if (existing) throw grpcError(grpc.status.ALREADY_EXISTS, `pod sandbox ${sandbox.metadata!.namespace}/${sandbox.metadata!.name} attempt ${sandbox.metadata!.attempt} exists already: ${existing.id}`);
    // kubelet's pod cgroup (cgroupfs driver: a path, /kubepods/burstable/pod<uid>): the pod's own.
    const cgroupParent = sandbox.linux?.cgroup_parent ?? '';
    if (cgroupParent && !cgroupParent.startsWith('/')) throw grpcError(grpc.status.INVALID_ARGUMENT, `cgroup_parent "${cgroupParent}": a systemd slice, and conman's cgroup driver is cgroupfs (RuntimeConfig says so): give a path such as /kubepods/pod1`);
    // The resolver's search domains and options (kubelet's cluster DNS: svc.cluster.local, ndots:5).
    const dns = sandbox.dns_config;
    const request = {
      ...podRequestOf(sandbox),
      ...(cgroupParent ? { cgroup: cgroupParent } : {}),
      ...(dns?.searches?.length ? { dnsSearch: dns.searches } : {}),
      ...(dns?.options?.length ? { dnsOptions: dns.options } : {}),
    };
    const { id } = await this.pods.create(request);
    this.store.sandboxes.put({
      id,
      metadata: sandbox.metadata!,
      labels: sandbox.labels ?? {},
      annotations: sandbox.annotations ?? {},
      logDirectory: sandbox.log_directory ?? '',
      runtimeHandler: '',
      createdAt: new Date().toISOString(),
      ...(Object.keys(sandbox.linux?.sysctls ?? {}).length > 0 ? { sysctls: sandbox.linux!.sysctls } : {}),
    });
    return { pod_sandbox_id: id };
  }

  async stopPodSandbox({ pod_sandbox_id }: Request): Promise<object> {
    await unlessGone(this.pods.stop(pod_sandbox_id));
    return {};
  }

  async removePodSandbox({ pod_sandbox_id }: Request): Promise<object> {
    const meta = this.sandboxMeta(pod_sandbox_id, false);
    await unlessGone(this.pods.remove(meta?.id ?? pod_sandbox_id, true));
    if (meta) {
      for (const container of this.store.containers.list()) if (container.podSandboxId === meta.id) this.store.containers.remove(container.id);
      this.store.sandboxes.remove(meta.id);
    }
    return {};
  }

  private sandboxMeta(ref: string, required = true): SandboxMeta | undefined {
    const found = this.store.sandboxes.list().filter((meta) => meta.id.startsWith(ref));
    if (found.length === 1) return found[0];
    if (required) throw grpcError(grpc.status.NOT_FOUND, `pod sandbox ${ref} not found`);
    return undefined;
  }

  private async sandboxStatus(meta: SandboxMeta): Promise<object> {
    const pod = await this.pods.inspect(meta.id);
    return {
      id: meta.id,
      metadata: meta.metadata,
      state: pod.status === 'running' || pod.status === 'degraded' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
      created_at: nanoseconds(meta.createdAt),
      network: { ip: pod.ip ?? '', additional_ips: [] },
      linux: { namespaces: { options: { network: pod.network === 'host' ? 'NODE' : 'POD', pid: pod.share.includes('pid') ? 'POD' : 'CONTAINER', ipc: 'POD', target_id: '' } } },
      labels: meta.labels,
      annotations: meta.annotations,
      runtime_handler: meta.runtimeHandler,
    };
  }

  async podSandboxStatus({ pod_sandbox_id }: Request): Promise<object> {
    const meta = this.sandboxMeta(pod_sandbox_id)!;
    return { status: await this.sandboxStatus(meta), info: {}, containers_statuses: [], timestamp: nanoseconds(new Date().toISOString()) };
  }

  async listPodSandbox({ filter }: Request): Promise<object> {
    const items = [];
    for (const meta of this.store.sandboxes.list()) {
      if (filter?.id && !meta.id.startsWith(filter.id)) continue;
      if (!matchesLabels(meta.labels, filter?.label_selector)) continue;
      const status = (await this.sandboxStatus(meta).catch(() => undefined)) as { state: string } | undefined;
      if (!status) continue; // removed behind our back (conman pod rm)
      if (filter?.state && status.state !== filter.state.state) continue;
      items.push({ id: meta.id, metadata: meta.metadata, state: status.state, created_at: nanoseconds(meta.createdAt), labels: meta.labels, annotations: meta.annotations, runtime_handler: meta.runtimeHandler });
    }
    return { items };
  }

  // ----- containers -----

  async createContainer({ pod_sandbox_id, config }: Request): Promise<object> {
    const sandbox = this.sandboxMeta(pod_sandbox_id)!;
    const pod = await this.pods.inspect(sandbox.id);
    const containerConfig = config as ContainerConfig;
    const request = createRequestOf(containerConfig, { id: pod.id, name: pod.name });
    const editContainer = specEditorFor(containerConfig); // (checks the config before anything is made)
    const targetPid = await this.targetPidNamespace(containerConfig);
    const editSpec = async (spec: Spec) => {
      // The pod's sysctls: runc writes them in the container's namespaces, which are the pod's (net, ipc).
      if (sandbox.sysctls) spec.linux.sysctl = { ...spec.linux.sysctl, ...sandbox.sysctls };
      if (targetPid) spec.linux.namespaces = [...spec.linux.namespaces.filter((namespace) => namespace.type !== 'pid'), { type: 'pid', path: targetPid }];
      await editContainer(spec);
    };
    // kubelet reads the log at log_directory/log_path, and rotates it there: the shim writes it
    // there itself (as conmon does for cri-o), not in the manager's folder.
    const logPath = sandbox.logDirectory && containerConfig.log_path ? path.join(sandbox.logDirectory, containerConfig.log_path) : '';
    if (logPath && !path.isAbsolute(logPath)) throw grpcError(grpc.status.INVALID_ARGUMENT, `the log's place ${logPath} (log_directory + log_path) is not an absolute path`);
    const metadata = containerConfig.metadata;
    const twin = this.store.containers.list().find((meta) => meta.podSandboxId === sandbox.id && meta.metadata.name === metadata?.name && meta.metadata.attempt === metadata?.attempt);
    if (twin) throw grpcError(grpc.status.ALREADY_EXISTS, `container ${metadata!.name} attempt ${metadata!.attempt} exists already in this sandbox: ${twin.id}`);
    const { id } = await this.manager.create(request, { editSpec, ...(logPath ? { logPath } : {}) });
    const info = await this.manager.inspect(id);
    this.store.containers.put({
      id,
      podSandboxId: sandbox.id,
      metadata: containerConfig.metadata!,
      labels: containerConfig.labels ?? {},
      annotations: containerConfig.annotations ?? {},
      logPath,
      image: request.image,
      imageRef: this.images.idOf(request.image),
      createdAt: info.created,
      mounts: containerConfig.mounts ?? [],
      resources: containerConfig.linux?.resources ?? null,
    });
    return { container_id: id };
  }

  /**
   * pid TARGET: an ephemeral container (`kubectl debug --target=app`) joins another container's
   * PID namespace, to see its processes. The path is that container's init's, now.
   */
  private async targetPidNamespace(config: ContainerConfig): Promise<string | undefined> {
    const options = (config.linux?.security_context as { namespace_options?: { network?: string; ipc?: string; pid?: string; target_id?: string } } | null | undefined)?.namespace_options;
    if (options?.network === 'TARGET' || options?.ipc === 'TARGET') throw grpcError(grpc.status.INVALID_ARGUMENT, 'namespace TARGET is for the PID namespace only');
    if (options?.pid !== 'TARGET') return undefined;
    const target = this.containerMeta(options.target_id ?? '', false);
    if (!target) throw grpcError(grpc.status.NOT_FOUND, `pid namespace TARGET: no container ${options.target_id}`);
    const info = await this.manager.inspect(target.id);
    if (info.status !== 'running' || !info.pid) throw grpcError(grpc.status.FAILED_PRECONDITION, `pid namespace TARGET: container ${target.id} is not running (${info.status})`);
    return `/proc/${info.pid}/ns/pid`;
  }

  private containerMeta(ref: string, required = true): ContainerMeta | undefined {
    const found = this.store.containers.list().filter((meta) => meta.id.startsWith(ref));
    if (found.length === 1) return found[0];
    if (required) throw grpcError(grpc.status.NOT_FOUND, `container ${ref} not found`);
    return undefined;
  }

  async startContainer({ container_id }: Request): Promise<object> {
    await this.manager.start(this.containerMeta(container_id)!.id);
    return {};
  }

  async stopContainer({ container_id, timeout }: Request): Promise<object> {
    const meta = this.containerMeta(container_id, false);
    if (meta) await unlessGone(this.manager.stop(meta.id, Number(timeout ?? 0)));
    return {};
  }

  async removeContainer({ container_id }: Request): Promise<object> {
    const meta = this.containerMeta(container_id, false);
    if (meta) {
      await unlessGone(this.manager.remove(meta.id, true));
      this.store.containers.remove(meta.id);
    }
    return {};
  }

  private containerOf(meta: ContainerMeta, info: ContainerInfo): object {
    return {
      id: meta.id,
      pod_sandbox_id: meta.podSandboxId,
      metadata: meta.metadata,
      image: { image: meta.image },
      image_ref: meta.imageRef,
      image_id: meta.imageRef,
      state: containerStateOf(info.status),
      created_at: nanoseconds(meta.createdAt),
      labels: meta.labels,
      annotations: meta.annotations,
    };
  }

  async listContainers({ filter }: Request): Promise<object> {
    const containers = [];
    for (const meta of this.store.containers.list()) {
      if (filter?.id && !meta.id.startsWith(filter.id)) continue;
      if (filter?.pod_sandbox_id && !meta.podSandboxId.startsWith(filter.pod_sandbox_id)) continue;
      if (!matchesLabels(meta.labels, filter?.label_selector)) continue;
      // Gone from the manager (conman rm behind the CRI's back): not listed. Any other error is one.
      const info = await this.manager.inspect(meta.id).catch((error: { status?: number }) => {
        if (error.status === 404) return undefined;
        throw error;
      });
      if (!info) continue;
      const container = this.containerOf(meta, info) as { state: string };
      if (filter?.state && container.state !== filter.state.state) continue;
      containers.push(container);
    }
    return { containers };
  }

  async containerStatus({ container_id, verbose }: Request): Promise<object> {
    const meta = this.containerMeta(container_id)!;
    const info = await this.manager.inspect(meta.id);
    // verbose: what crictl inspect shows under "info" (containerd's keys: its pid, its sandbox, the runtime spec).
    const details = verbose
      ? { info: JSON.stringify({ sandboxID: meta.podSandboxId, pid: info.pid ?? 0, runtimeType: RUNTIME_NAME, runtimeSpec: readSpec(info.bundle) }) }
      : {};
    return {
      status: {
        ...this.containerOf(meta, info),
        started_at: nanoseconds(info.startedAt),
        finished_at: info.status === 'exited' ? nanoseconds(info.finishedAt) : '0',
        exit_code: info.exit?.exitCode ?? 0,
        reason: exitReasonOf(info),
        message: '',
        mounts: meta.mounts ?? [],
        log_path: meta.logPath,
        image_id: meta.imageRef,
        resources: meta.resources ? { linux: meta.resources } : null,
      },
      info: details,
    };
  }

  /** New limits for a running container, in place (kubelet's in-place pod resize, and its CPU manager). */
  async updateContainerResources({ container_id, linux }: Request): Promise<object> {
    const meta = this.containerMeta(container_id)!;
    await this.manager.updateResources(meta.id, {
      memoryBytes: Number(linux?.memory_limit_in_bytes ?? 0),
      cpuShares: Number(linux?.cpu_shares ?? 0),
      cpuQuota: Number(linux?.cpu_quota ?? 0),
      cpuPeriod: Number(linux?.cpu_period ?? 0),
    });
    this.store.containers.put({ ...meta, resources: { ...(meta.resources ?? {}), ...linux } });
    return {};
  }

  /** kubelet has renamed the log file (rotation): the shim starts a new one at the same path. */
  async reopenContainerLog({ container_id }: Request): Promise<object> {
    const meta = this.containerMeta(container_id)!;
    if (!meta.logPath) throw grpcError(grpc.status.FAILED_PRECONDITION, `container ${container_id} has no log path (its sandbox has no log_directory)`);
    await this.manager.reopenLog(meta.id);
    return {};
  }

  // ----- streams: the RPC gives a URL, the bytes go there (streaming.ts) -----

  private async runningContainer(ref: string): Promise<ContainerMeta> {
    const meta = this.containerMeta(ref)!;
    const info = await this.manager.inspect(meta.id);
    if (info.status !== 'running') throw grpcError(grpc.status.FAILED_PRECONDITION, `container ${meta.id} is not running (${info.status})`);
    return meta;
  }

  async exec({ container_id, cmd, tty, stdin, stdout, stderr }: Request): Promise<object> {
    const meta = await this.runningContainer(container_id);
    if (!Array.isArray(cmd) || cmd.length === 0) throw grpcError(grpc.status.INVALID_ARGUMENT, 'cmd must name a command');
    const open = (size?: { rows: number; cols: number }) => this.manager.exec(meta.id, { args: cmd, tty: tty === true, stdin: stdin === true }, { size });
    return { url: this.streaming.urlFor('exec', open, { tty: tty === true, stdin: stdin === true, stdout: stdout === true, stderr: stderr === true }) };
  }

  async attach({ container_id, stdin, tty, stdout, stderr }: Request): Promise<object> {
    const meta = await this.runningContainer(container_id);
    const open = async (size?: { rows: number; cols: number }) => {
      const session = await this.manager.attach(meta.id);
      if (size) session.resize(size.rows, size.cols); // (it runs already: its terminal is resized now)
      return session;
    };
    return { url: this.streaming.urlFor('attach', open, { tty: tty === true, stdin: stdin === true, stdout: stdout === true, stderr: stderr === true }) };
  }

  async portForward({ pod_sandbox_id, port }: Request): Promise<object> {
    const meta = this.sandboxMeta(pod_sandbox_id)!;
    // No port here is allowed (critest, kubectl): the client names them on the stream's URL (?port=80) instead.
    const ports = (port ?? []) as number[];
    if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw grpcError(grpc.status.INVALID_ARGUMENT, 'port: ports are from 1 to 65535');
    const address = async () => {
      const pod = await this.pods.inspect(meta.id);
      if (!pod.ip) throw new Error('the pod has no address');
      return pod.ip;
    };
    return { url: this.streaming.portForwardUrl(address, ports) };
  }

  // ----- stats -----

  private async containerStats(meta: ContainerMeta): Promise<object | undefined> {
    const info = await this.manager.inspect(meta.id).catch(() => undefined);
    if (!info) return undefined;
    return { attributes: { id: meta.id, metadata: meta.metadata, labels: meta.labels, annotations: meta.annotations }, ...containerUsage(info), writable_layer: null };
  }

  async containerStatsOne({ container_id }: Request): Promise<object> {
    const stats = await this.containerStats(this.containerMeta(container_id)!);
    if (!stats) throw grpcError(grpc.status.NOT_FOUND, `container ${container_id} not found`);
    return { stats };
  }

  async listContainerStats({ filter }: Request): Promise<object> {
    const stats = [];
    for (const meta of this.store.containers.list()) {
      if (filter?.id && !meta.id.startsWith(filter.id)) continue;
      if (filter?.pod_sandbox_id && !meta.podSandboxId.startsWith(filter.pod_sandbox_id)) continue;
      if (!matchesLabels(meta.labels, filter?.label_selector)) continue;
      const one = await this.containerStats(meta);
      if (one) stats.push(one);
    }
    return { stats };
  }

  private async podStats(meta: SandboxMeta): Promise<object | undefined> {
    const pod = await this.pods.stats(meta.id).catch(() => undefined);
    if (!pod) return undefined;
    const containers = [];
    for (const container of this.store.containers.list()) {
      if (container.podSandboxId !== meta.id) continue;
      const one = await this.containerStats(container);
      if (one) containers.push(one);
    }
    return {
      attributes: { id: meta.id, metadata: meta.metadata, labels: meta.labels, annotations: meta.annotations },
      linux: { ...usageOf(pod), network: null, process: { timestamp: nanoseconds(new Date().toISOString()), process_count: { value: String(pod.pids) } }, containers },
    };
  }

  async podSandboxStats({ pod_sandbox_id }: Request): Promise<object> {
    const stats = await this.podStats(this.sandboxMeta(pod_sandbox_id)!);
    if (!stats) throw grpcError(grpc.status.NOT_FOUND, `pod sandbox ${pod_sandbox_id} not found`);
    return { stats };
  }

  async listPodSandboxStats({ filter }: Request): Promise<object> {
    const stats = [];
    for (const meta of this.store.sandboxes.list()) {
      if (filter?.id && !meta.id.startsWith(filter.id)) continue;
      if (!matchesLabels(meta.labels, filter?.label_selector)) continue;
      const one = await this.podStats(meta);
      if (one) stats.push(one);
    }
    return { stats };
  }

  /** Run a command to its end and give its output and exit code; past `timeout` seconds, kill it (exec-sync.ts). */
  async execSync({ container_id, cmd, timeout }: Request): Promise<object> {
    const meta = this.containerMeta(container_id)!;
    if (!Array.isArray(cmd) || cmd.length === 0) throw grpcError(grpc.status.INVALID_ARGUMENT, 'cmd must name a command');
    const session: Session = await this.manager.exec(meta.id, { args: cmd });
    const kill = async () => {
      if (session.execId) await this.manager.killExec(session.execId);
    };
    return runToEnd(session, Number(timeout ?? 0), kill);
  }
}
