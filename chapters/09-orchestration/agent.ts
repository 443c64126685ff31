/**
 * The agent: a control loop that makes the runtime run what the manifest folder says.
 *
 *   every sync period (2 s), on every change in the folder, and whenever a pod's work ends:
 *     1. read the manifests (validate each; an invalid one gets its errors as its status)
 *     2. list what runs (actual-state.ts: the CRI's lists, grouped by pod uid)
 *     3. plan (sync-plan.ts: a pure diff) and hand each pod's actions to its worker
 *     4. write each pod's status (pod-status.ts) where `conman-agent get pods` reads it
 *
 * One worker per pod runs that pod's actions in order (a pull, a create, a start may take a
 * while); a pod whose worker is busy is planned again at the next round, from fresh lists.
 * So a slow pod never holds the others up, and two actions of one pod never race.
 *
 * Nothing is kept that the runtime does not also keep: after a restart (or a kill -9) the
 * agent finds its pods by their labels and carries on, restarting nothing that runs. Only
 * the back-off timers start over, and the events are read back from the status files.
 *
 * How real kubelet differs: the same loop (syncLoop: config updates, PLEG events, a 1 s
 * housekeeping tick, probe results), with pod workers per pod (pod_workers.go), plus all that
 * a node does for a cluster: reporting to the API server, volumes of many kinds, secrets,
 * evictions under memory pressure, the node's status, image garbage collection.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { writeFileAtomic } from '#lib/atomic-file.ts';
import { ActualState, type ObservedSandbox } from './actual-state.ts';
import { afterExit, nextBackoff, type BackoffEntry, type BackoffPolicy } from './backoff.ts';
import { ANNOTATION, containerConfigOf, containerHash, logDirectoryOf, podDirOf, podUid, sandboxConfigOf, sandboxHash, type Places } from './cri-configs.ts';
import { connectCri, CriError, type Cri } from '#lower/08-cri/cri-client.ts';
import { EventLog, type PodEvent } from './events.ts';
import { readManifests, withDefaults, type ContainerSpec, type ManifestCache, type ManifestFile, type Pod } from './manifest.ts';
import { invalidPodDocument, podStatusOf, type PodDocument } from './pod-status.ts';
import { Prober, type ProbeTarget } from './prober.ts';
import { syncPlan, type Action, type DesiredPod } from './sync-plan.ts';
import { formatFieldError, validatePod } from './validate.ts';

export interface AgentOptions {
  manifestDir: string;
  /** unix:///path/to/cri.sock */
  endpoint: string;
  /** Status files (status/), emptyDir volumes (pods/<uid>/), the agent's own state (agent.yaml). */
  stateDir: string;
  /** Pod log folders (kubelet: /var/log/pods). */
  logRoot: string;
  backoff: BackoffPolicy;
  syncPeriodMs: number;
  /** How many pods start at once (RunPodSandbox, CreateContainer): more only queue in the runtime. */
  parallel: number;
  log: (line: string) => void;
}

/** A valid manifest, as the agent wants it run. */
interface Desired {
  file: string;
  pod: Pod;
  uid: string;
  key: string;
  plan: DesiredPod;
}

export const STATUS_SUFFIX = '.status.yaml';
export const statusDirOf = (stateDir: string) => path.join(stateDir, 'status');
export const agentFileOf = (stateDir: string) => path.join(stateDir, 'agent.yaml');

/** What `get pods` reads to tell whether the agent runs and reaches its runtime. */
export interface AgentFile {
  pid: number;
  manifestDir: string;
  runtimeEndpoint: string;
  startedAt: string;
  runtime: { reachable: boolean; since: string; error?: string; nextRetry?: string };
}

/**
 * A small counting semaphore: at most `n` heavy calls at once. Work for pods that already have
 * a sandbox goes first: a pod half made is worth more than a new one started.
 */
function limiter(n: number): <T>(work: () => Promise<T>, first?: boolean) => Promise<T> {
  let active = 0;
  const queues: [(() => void)[], (() => void)[]] = [[], []];
  return async (work, first = false) => {
    if (active >= n) await new Promise<void>((resolve) => queues[first ? 0 : 1].push(resolve));
    active++;
    try {
      return await work();
    } finally {
      active--;
      (queues[0].shift() ?? queues[1].shift())?.();
    }
  };
}

const seconds = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s` : ms >= 1000 ? `${Math.round(ms / 100) / 10}s` : `${ms}ms`);

export class Agent {
  private readonly cri: Cri;
  private readonly actual: ActualState;
  private readonly prober: Prober;
  private readonly events: EventLog;
  private readonly places: Places;
  private readonly heavy: <T>(work: () => Promise<T>, first?: boolean) => Promise<T>;

  private desired = new Map<string, Desired>();
  private manifestCache: ManifestCache = new Map();
  private checked = new WeakMap<ManifestFile, { errors: string[]; pod?: Pod; plan?: DesiredPod }>();
  private observed: ObservedSandbox[] = [];
  /** Each pod's worker: the tail of its chain of tasks. */
  private workers = new Map<string, Promise<void>>();
  /**
   * Which listing each pod's worker last finished during: a worker that ends while a round
   * is listing leaves that round's lists stale for its pod (it may have just started a
   * container the lists do not show): such a pod waits for the next round.
   */
  private listings = 0;
  private finishedDuring = new Map<string, number>();
  /** Back-offs of container restarts and image pulls, by "uid/name". */
  private backoffs = new Map<string, BackoffEntry>();
  private pullBackoffs = new Map<string, { delayMs: number; until: number }>();
  /** Why a container waits, when the agent knows it (CrashLoopBackOff, ErrImagePull), by "uid/name". */
  private waiting = new Map<string, { reason: string; message?: string }>();
  /** Pods whose manifest is gone but whose kill is not done: "Terminating", and their file. */
  private terminating = new Map<string, { file: string; key: string }>();
  /** The text last written per status file (by manifest file name): a round that changes nothing writes nothing. */
  private written = new Map<string, string>();
  private lastSignature = '';
  private lastJson = new Map<string, { json: string; yaml: string }>();
  private readonly hostIP: string;

  private timer: NodeJS.Timeout | undefined;
  private watcher: fs.FSWatcher | undefined;
  private wakeups = new Set<NodeJS.Timeout>();
  private wakeTimes = new Set<number>();
  private dirty = false;
  private looping: Promise<void> | undefined;
  private stopped = false;
  private runtime: AgentFile['runtime'] = { reachable: true, since: new Date().toISOString() };
  private retryMs = 0;
  private retryAt = 0;

  constructor(private readonly options: AgentOptions) {
    this.cri = connectCri(options.endpoint, 30_000);
    this.actual = new ActualState(this.cri);
    this.events = new EventLog(options.log);
    this.places = { logRoot: options.logRoot, stateDir: options.stateDir };
    this.heavy = limiter(options.parallel);
    this.hostIP = firstAddress();
    this.prober = new Prober(this.cri, {
      unhealthy: (target, message) => this.events.record(target.pod, 'Warning', 'Unhealthy', `${target.kind === 'liveness' ? 'Liveness' : 'Readiness'} probe failed: ${message}`),
      livenessFailed: (target) => this.killUnhealthy(target),
      readinessChanged: () => this.kick(),
    });
  }

  // ----- the loop -----

  start(): void {
    fs.mkdirSync(statusDirOf(this.options.stateDir), { recursive: true });
    fs.mkdirSync(this.options.manifestDir, { recursive: true });
    this.restoreEvents();
    // The folder's changes wake the loop at once; the period catches what a watch misses.
    this.watcher = fs.watch(this.options.manifestDir, () => this.kick());
    this.watcher.on('error', () => {});
    this.timer = setInterval(() => this.kick(), this.options.syncPeriodMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.watcher?.close();
    for (const timer of this.wakeups) clearTimeout(timer);
    this.prober.stop();
    await this.looping;
    await Promise.all(this.workers.values());
    this.cri.close();
  }

  /** Ask for a round; rounds never overlap, and many asks while one runs make one more. */
  kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.looping ??= (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        await this.round().catch((error) => this.options.log(`sync failed: ${(error as Error).stack ?? error}`));
      }
      this.looping = undefined;
    })();
  }

  /** A round at `when` (once: a back-off seen by many rounds asks for the same time each round). */
  private wakeAt(when: number): void {
    if (this.wakeTimes.has(when)) return;
    this.wakeTimes.add(when);
    const timer = setTimeout(() => (this.wakeups.delete(timer), this.wakeTimes.delete(when), this.kick()), Math.max(0, when - Date.now()) + 5);
    this.wakeups.add(timer);
  }

  private async round(): Promise<void> {
    const invalid = this.readDesired();
    if (Date.now() < this.retryAt) return; // the runtime is down: wait for the retry
    const listing = ++this.listings;
    try {
      this.observed = await this.actual.list();
      if (!this.runtime.reachable) this.options.log(`the CRI endpoint ${this.options.endpoint} answers again`);
      if (!this.runtime.reachable || this.retryMs) this.runtime = { reachable: true, since: new Date().toISOString() };
      this.retryMs = 0;
    } catch (error) {
      if (!(error instanceof CriError) || !error.unavailable) throw error;
      // Retry with a back-off (0.5 s doubling to 30 s), and say so in agent.yaml and the log.
      this.retryMs = Math.min(Math.max(this.retryMs * 2, 500), 30_000);
      this.retryAt = Date.now() + this.retryMs;
      const since = this.runtime.reachable ? new Date().toISOString() : this.runtime.since;
      this.runtime = { reachable: false, since, error: error.details, nextRetry: new Date(this.retryAt).toISOString() };
      this.options.log(`the CRI endpoint ${this.options.endpoint} is unreachable (${error.details}); retrying in ${seconds(this.retryMs)}`);
      this.wakeAt(this.retryAt);
      this.writeAgentFile();
      return;
    }
    this.writeAgentFile();

    const plan = syncPlan([...this.desired.values()].map((d) => d.plan), this.observed);
    const byPod = new Map<string, Action[]>();
    for (const action of plan) byPod.set(action.uid, [...(byPod.get(action.uid) ?? []), action]);
    for (const [uid, actions] of byPod) {
      // Busy, or done since the lists were asked for: planned again from fresh lists.
      if (this.workers.has(uid) || (this.finishedDuring.get(uid) ?? 0) >= listing) continue;
      this.enqueue(uid, () => this.carryOut(uid, actions));
    }
    for (const uid of this.finishedDuring.keys()) {
      if (!this.desired.has(uid) && !this.workers.has(uid) && !this.observed.some((s) => s.uid === uid)) this.finishedDuring.delete(uid);
    }
    this.prober.update(this.probeTargets());
    // Most rounds find nothing new: then the statuses are not even computed (an idle agent stays idle).
    const signature = [
      this.observed.map((s) => `${s.id}:${s.ready}:${s.containers.map((c) => `${c.id}:${c.state}`).join(',')}`).join(';'),
      [...this.manifestCache].map(([file, m]) => `${file}:${m.ctimeMs}`).join(','),
      this.events.serial,
      JSON.stringify([...this.waiting]),
      [...this.terminating.keys()].join(','),
      this.prober.summary(),
    ].join('|');
    if (signature === this.lastSignature) return;
    this.lastSignature = signature;
    this.writeStatuses(invalid);
  }

  /**
   * Run `task` on the pod's worker, after what it already has; a new round when it is done,
   * if it changed anything. A task that changed nothing (it waits out a back-off, or its call
   * failed) asks for no round: its next try comes with the sync period or its wake-up time.
   * Without this rule a pod in CrashLoopBackOff would be planned again at once, forever: a
   * busy loop of CRI lists.
   */
  private enqueue(uid: string, task: () => Promise<boolean | void>): void {
    const tail = (this.workers.get(uid) ?? Promise.resolve())
      .then(task)
      .catch((error) => {
        this.options.log(`pod ${uid}: ${(error as Error).message}`);
        return false;
      })
      .then((changed) => {
        this.finishedDuring.set(uid, this.listings);
        if (this.workers.get(uid) === tail) this.workers.delete(uid);
        if (changed !== false) this.kick();
      });
    this.workers.set(uid, tail);
  }

  // ----- the manifests -----

  /** Read and validate the folder; keep the valid pods in this.desired; return the invalid ones' documents. */
  private readDesired(): Map<string, PodDocument> {
    const invalid = new Map<string, PodDocument>();
    const desired = new Map<string, Desired>();
    const seen = new Map<string, string>(); // namespace/name → file
    for (const manifest of readManifests(this.options.manifestDir, this.manifestCache)) {
      // Validated and defaulted once per version of the file (the cache gives the same object while it is unchanged).
      let checked = this.checked.get(manifest);
      if (!checked) {
        const errors = manifest.error ? [manifest.error] : validatePod(manifest.document).map(formatFieldError);
        checked = { errors, pod: errors.length === 0 ? withDefaults(manifest.document as Pod) : undefined };
        this.checked.set(manifest, checked);
      }
      let errors = checked.errors;
      const pod = checked.pod;
      if (errors.length === 0 && pod) {
        const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
        const other = seen.get(key);
        if (other) errors = [`metadata.name: Duplicate value: "${pod.metadata.name}": ${other} has a pod of that name in namespace ${pod.metadata.namespace}`];
        else seen.set(key, manifest.file);
      }
      if (errors.length > 0 || !pod) {
        const key = `invalid/${manifest.file}`;
        const message = errors.join('; ');
        // One event per version of the file's errors, not one per round.
        const event = `${manifest.file}: ${message}`;
        if (this.events.of(key).at(-1)?.message !== event) this.events.record(key, 'Warning', 'FailedValidation', event);
        invalid.set(manifest.file, invalidPodDocument(manifest.file, manifest.document, message, this.events.of(key)));
        continue;
      }
      const uid = podUid(pod.metadata.namespace!, pod.metadata.name);
      checked.plan ??= {
        uid,
        sandboxHash: sandboxHash(pod),
        restartPolicy: pod.spec.restartPolicy!,
        initContainers: pod.spec.initContainers!.map((c) => ({ name: c.name, hash: containerHash(pod, c) })),
        containers: pod.spec.containers.map((c) => ({ name: c.name, hash: containerHash(pod, c) })),
      };
      desired.set(uid, { file: manifest.file, pod, uid, key: `${pod.metadata.namespace}/${pod.metadata.name}`, plan: checked.plan });
    }
    // A pod whose manifest went is Terminating until its kill is done.
    for (const [uid, previous] of this.desired) if (!desired.has(uid)) this.terminating.set(uid, { file: previous.file, key: previous.key });
    for (const uid of desired.keys()) this.terminating.delete(uid);
    this.desired = desired;
    return invalid;
  }

  // ----- the actions -----

  /**
   * The pod's actions in order. act() answers false to stop here (a back-off of an init
   * container, a failed call: the rest waits for the next round) and 'waiting' when it did
   * nothing but the next actions may go on. Resolves with whether anything was done.
   */
  private async carryOut(uid: string, actions: Action[]): Promise<boolean> {
    let changed = false;
    for (const action of actions) {
      if (this.stopped) break;
      const outcome = await this.act(action);
      if (outcome === false) break;
      if (outcome !== 'waiting') changed = true;
    }
    return changed;
  }

  private async act(action: Action): Promise<boolean | 'waiting' | void> {
    const desired = this.desired.get(action.uid);
    const pod = desired?.key ?? this.terminating.get(action.uid)?.key ?? action.uid;
    switch (action.kind) {
      case 'killPod': {
        for (const id of action.sandboxIds) await this.killSandbox(id, pod);
        // The pod is gone for good: its logs, its emptyDir volumes, its memory here.
        const sandbox = this.observed.find((s) => s.uid === action.uid);
        if (sandbox) fs.rmSync(path.join(this.options.logRoot, `${sandbox.namespace}_${sandbox.name}_${action.uid}`), { recursive: true, force: true });
        fs.rmSync(podDirOf(action.uid, this.places), { recursive: true, force: true });
        for (const key of [...this.backoffs.keys(), ...this.waiting.keys(), ...this.pullBackoffs.keys()]) {
          if (key.startsWith(`${action.uid}/`)) (this.backoffs.delete(key), this.waiting.delete(key), this.pullBackoffs.delete(key));
        }
        const gone = this.terminating.get(action.uid);
        if (gone) {
          this.events.forget(gone.key);
          this.terminating.delete(action.uid);
          fs.rmSync(path.join(statusDirOf(this.options.stateDir), gone.file + STATUS_SUFFIX), { force: true });
          this.written.delete(gone.file);
        }
        this.options.log(`${pod}: removed (${action.reason})`);
        return;
      }
      case 'killSandbox':
        this.events.record(pod, 'Normal', 'SandboxChanged', `Pod sandbox changed, it will be killed and re-created. (${action.reason})`);
        return this.killSandbox(action.sandboxId, pod);
      case 'createSandbox': {
        if (!desired) return false;
        const config = sandboxConfigOf(desired.pod, action.uid, action.attempt, this.places);
        fs.mkdirSync(logDirectoryOf(desired.pod, action.uid, this.places), { recursive: true });
        for (const volume of desired.pod.spec.volumes ?? []) {
          if (volume.emptyDir) fs.mkdirSync(path.join(podDirOf(action.uid, this.places), 'volumes', 'kubernetes.io~empty-dir', volume.name), { recursive: true });
        }
        try {
          await this.heavy(() => this.cri.runtime('RunPodSandbox', { config }, 300_000));
        } catch (error) {
          this.events.record(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(error as Error).message}`);
          return false;
        }
        return;
      }
      case 'killContainer':
        this.events.record(pod, 'Normal', 'Killing', `Stopping container ${action.name} (${action.reason})`);
        await this.cri.runtime('StopContainer', { container_id: action.containerId, timeout: this.graceOf(action.uid) }, 30_000 + this.graceOf(action.uid) * 1000);
        await this.cri.runtime('RemoveContainer', { container_id: action.containerId });
        return;
      case 'removeContainer':
        await this.cri.runtime('RemoveContainer', { container_id: action.containerId });
        return;
      case 'startContainer':
        if (!desired) return false;
        return this.startContainer(desired, action);
    }
  }

  private graceOf(uid: string): number {
    return this.desired.get(uid)?.pod.spec.terminationGracePeriodSeconds ?? 30;
  }

  /** Stop a sandbox's containers with their grace period (all at once), then the sandbox, then remove it. */
  private async killSandbox(sandboxId: string, pod: string): Promise<void> {
    const sandbox = this.observed.find((s) => s.id === sandboxId);
    const running = (sandbox?.containers ?? []).filter((c) => c.state === 'CONTAINER_RUNNING');
    await Promise.all(
      running.map(async (container) => {
        const { containers } = await this.cri.runtime('ListContainers', { filter: { id: container.id } });
        const grace = Number(containers[0]?.annotations?.[ANNOTATION.gracePeriod] ?? this.graceOf(sandbox!.uid));
        this.events.record(pod, 'Normal', 'Killing', `Stopping container ${container.name}`);
        await this.cri.runtime('StopContainer', { container_id: container.id, timeout: grace }, 30_000 + grace * 1000);
      }),
    );
    await this.cri.runtime('StopPodSandbox', { pod_sandbox_id: sandboxId }, 120_000);
    await this.cri.runtime('RemovePodSandbox', { pod_sandbox_id: sandboxId }, 120_000);
  }

  private async startContainer(desired: Desired, action: Extract<Action, { kind: 'startContainer' }>): Promise<boolean | 'waiting' | void> {
    const pod = desired.key;
    const key = `${action.uid}/${action.name}`;
    const spec = [...desired.pod.spec.initContainers!, ...desired.pod.spec.containers].find((c) => c.name === action.name)!;
    // An exit being restarted waits out its back-off (backoff.ts); the pod shows CrashLoopBackOff meanwhile.
    if (action.backoff && action.previous) {
      const entry = afterExit(this.backoffs.get(key), action.previous.id, action.previous.startedAt, action.previous.finishedAt || Date.now(), this.options.backoff);
      this.backoffs.set(key, entry);
      if (Date.now() < entry.until) {
        const message = `back-off ${seconds(entry.delayMs)} restarting failed container=${action.name} pod=${desired.pod.metadata.name}_${desired.pod.metadata.namespace}(${action.uid})`;
        if (this.waiting.get(key)?.reason !== 'CrashLoopBackOff') this.events.record(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${action.name} in pod ${desired.pod.metadata.name}_${desired.pod.metadata.namespace}(${action.uid})`);
        this.waiting.set(key, { reason: 'CrashLoopBackOff', message });
        this.wakeAt(entry.until);
        return action.init ? false : 'waiting'; // (an init container holds the pod; an app container only itself)
      }
    }
    if (!(await this.ensureImage(pod, key, spec))) return false;
    const sandbox = this.observed.find((s) => s.id === action.sandboxId);
    const sandboxConfig = sandboxConfigOf(desired.pod, action.uid, sandbox?.attempt ?? 0, this.places);
    const config = containerConfigOf(desired.pod, action.uid, spec, { attempt: action.attempt, restartCount: action.restartCount, init: action.init, places: this.places });
    let id: string;
    try {
      id = (await this.heavy(() => this.cri.runtime('CreateContainer', { pod_sandbox_id: action.sandboxId, config, sandbox_config: sandboxConfig }, 120_000), true)).container_id;
    } catch (error) {
      this.waiting.set(key, { reason: 'CreateContainerError', message: (error as Error).message });
      this.events.record(pod, 'Warning', 'Failed', `Error: ${(error as Error).message}`);
      return false;
    }
    this.events.record(pod, 'Normal', 'Created', `Created container ${action.name}`);
    try {
      await this.cri.runtime('StartContainer', { container_id: id }, 120_000);
    } catch (error) {
      this.waiting.set(key, { reason: 'RunContainerError', message: (error as Error).message });
      this.events.record(pod, 'Warning', 'Failed', `Error: ${(error as Error).message}`);
      return false;
    }
    this.waiting.delete(key);
    this.events.record(pod, 'Normal', 'Started', `Started container ${action.name}`);
    // The container it replaces (an exit kept for its status) goes now that the new one runs.
    if (action.previous && action.previous.state === 'CONTAINER_EXITED') await this.cri.runtime('RemoveContainer', { container_id: action.previous.id }).catch(() => {});
  }

  /** The image as its pull policy says: Always pulls, IfNotPresent pulls when missing, Never never. */
  private async ensureImage(pod: string, key: string, spec: ContainerSpec): Promise<boolean> {
    const image = spec.image;
    const pullBackoff = this.pullBackoffs.get(key);
    if (pullBackoff && Date.now() < pullBackoff.until) {
      this.waiting.set(key, { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` });
      this.events.record(pod, 'Normal', 'BackOff', `Back-off pulling image "${image}"`);
      this.wakeAt(pullBackoff.until);
      return false;
    }
    if (spec.imagePullPolicy !== 'Always') {
      const present = (await this.cri.image('ImageStatus', { image: { image } })).image;
      if (present) {
        this.events.record(pod, 'Normal', 'Pulled', `Container image "${image}" already present on machine`);
        return true;
      }
      if (spec.imagePullPolicy === 'Never') {
        const message = `Container image "${image}" is not present with pull policy of Never`;
        this.waiting.set(key, { reason: 'ErrImageNeverPull', message });
        this.events.record(pod, 'Warning', 'ErrImageNeverPull', message);
        return false;
      }
    }
    this.events.record(pod, 'Normal', 'Pulling', `Pulling image "${image}"`);
    const began = Date.now();
    try {
      await this.heavy(() => this.cri.image('PullImage', { image: { image } }, 600_000), true);
    } catch (error) {
      const delayMs = nextBackoff(pullBackoff?.delayMs ?? 0, 0, this.options.backoff);
      this.pullBackoffs.set(key, { delayMs, until: Date.now() + delayMs });
      this.waiting.set(key, { reason: 'ErrImagePull', message: (error as Error).message });
      this.events.record(pod, 'Warning', 'Failed', `Failed to pull image "${image}": ${(error as Error).message}`);
      this.wakeAt(Date.now() + delayMs);
      return false;
    }
    this.pullBackoffs.delete(key);
    this.events.record(pod, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${seconds(Date.now() - began)}`);
    return true;
  }

  /** Liveness failed: kill the container on its pod's worker (the next round restarts it by the policy). */
  private killUnhealthy(target: ProbeTarget): void {
    const desired = [...this.desired.values()].find((d) => d.key === target.pod);
    if (!desired) return;
    this.events.record(target.pod, 'Normal', 'Killing', `Container ${target.name} failed liveness probe, will be restarted`);
    const grace = desired.pod.spec.terminationGracePeriodSeconds ?? 30;
    this.enqueue(desired.uid, async () => {
      await this.cri.runtime('StopContainer', { container_id: target.containerId, timeout: grace }, 30_000 + grace * 1000);
    });
  }

  // ----- probes and statuses -----

  private probeTargets(): ProbeTarget[] {
    const targets: ProbeTarget[] = [];
    for (const sandbox of this.observed) {
      const desired = this.desired.get(sandbox.uid);
      if (!desired || !sandbox.ready) continue;
      for (const container of sandbox.containers) {
        if (container.state !== 'CONTAINER_RUNNING') continue;
        const spec = desired.pod.spec.containers.find((c) => c.name === container.name);
        if (!spec || container.hash !== containerHash(desired.pod, spec)) continue;
        const ports = Object.fromEntries((spec.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort]));
        const host = desired.pod.spec.hostNetwork ? '127.0.0.1' : sandbox.ip;
        for (const kind of ['liveness', 'readiness'] as const) {
          const probe = kind === 'liveness' ? spec.livenessProbe : spec.readinessProbe;
          if (probe) targets.push({ containerId: container.id, pod: desired.key, name: container.name, kind, probe, host, ports });
        }
      }
    }
    return targets;
  }

  private writeStatuses(invalid: Map<string, PodDocument>): void {
    const dir = statusDirOf(this.options.stateDir);
    const texts = new Map<string, string>();
    // YAML costs: made only when the document changed (its JSON, much cheaper, is compared first).
    const yamlOf = (file: string, document: PodDocument) => {
      const json = JSON.stringify(document);
      const last = this.lastJson.get(file);
      if (last?.json === json) return last.yaml;
      const yaml = stringify(document, { lineWidth: 0 });
      this.lastJson.set(file, { json, yaml });
      return yaml;
    };
    for (const [file, document] of invalid) texts.set(file, yamlOf(file, document));
    for (const desired of this.desired.values()) {
      const sandboxes = this.observed.filter((s) => s.uid === desired.uid).sort((a, b) => b.attempt - a.attempt);
      const document = podStatusOf({
        file: desired.file,
        pod: desired.pod,
        desired: desired.plan,
        sandbox: sandboxes[0],
        waiting: (name) => this.waiting.get(`${desired.uid}/${name}`),
        readiness: (id) => this.prober.ready(id),
        terminating: false,
        hostIP: this.hostIP,
        events: this.events.of(desired.key),
      });
      texts.set(desired.file, yamlOf(desired.file, document));
    }
    // A pod being killed keeps its last status, as Terminating, until it is gone.
    for (const gone of this.terminating.values()) {
      const last = this.written.get(gone.file);
      if (!texts.has(gone.file) && last) texts.set(gone.file, last.replace(/(conman-agent\.io\/status: ).*/, '$1Terminating'));
    }
    for (const [file, text] of texts) {
      if (this.written.get(file) === text) continue; // (most rounds change nothing: no write)
      writeFileAtomic(path.join(dir, file + STATUS_SUFFIX), text);
      this.written.set(file, text);
    }
    // The status of a manifest that is gone (and whose pod is gone too) goes with it.
    for (const name of fs.readdirSync(dir)) {
      const file = name.slice(0, -STATUS_SUFFIX.length);
      if (name.endsWith(STATUS_SUFFIX) && !texts.has(file)) {
        fs.rmSync(path.join(dir, name), { force: true });
        this.written.delete(file);
        this.lastJson.delete(file);
      }
    }
  }

  private writeAgentFile(): void {
    const file: AgentFile = { pid: process.pid, manifestDir: this.options.manifestDir, runtimeEndpoint: this.options.endpoint, startedAt: STARTED_AT, runtime: this.runtime };
    if (this.lastJson.get('\0agent')?.json === JSON.stringify(file)) return;
    const text = stringify(file);
    this.lastJson.set('\0agent', { json: JSON.stringify(file), yaml: text });
    writeFileAtomic(agentFileOf(this.options.stateDir), text);
    this.written.set('\0agent', text);
  }

  /** After a restart: the events of the status files (describe keeps its history), and what the files say. */
  private restoreEvents(): void {
    const dir = statusDirOf(this.options.stateDir);
    for (const name of fs.readdirSync(dir)) {
      if (!name.endsWith(STATUS_SUFFIX)) continue;
      try {
        const text = fs.readFileSync(path.join(dir, name), 'utf8');
        const document = parse(text) as PodDocument | undefined;
        if (document?.metadata && document.status?.reason !== 'Invalid') this.events.restore(`${document.metadata.namespace}/${document.metadata.name}`, (document.events ?? []) as PodEvent[]);
        this.written.set(name.slice(0, -STATUS_SUFFIX.length), text);
      } catch {
        // a broken file is rewritten at the first round
      }
    }
  }
}

const STARTED_AT = new Date().toISOString();


/** The node's address for status.hostIP: its first non-internal IPv4 address. */
function firstAddress(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return '127.0.0.1';
}
