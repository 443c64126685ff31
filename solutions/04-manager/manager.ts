/**
 * The Manager: a library that runs containers through shims and remembers them on disk
 * (records.ts). conmand serves it over a socket; `conman --no-daemon` uses it in-process.
 *
 * Where things live (both roots configurable):
 *   <root>/containers/<id>/        record, bundle, log          (default root /var/lib/conman)
 *   <runRoot>/shims/<id12>/        the shim's folder: sockets, exit.json   (default /run/conman)
 *   <runRoot>/<runc|crun>/         the runtime's state (--root)
 *
 * Every operation on a container runs under its lock (keyed-lock.ts). While a Manager is
 * open it waits on every running container's shim, so it learns of each exit at once:
 * records the exit, removes the runtime's state, then applies --rm or the restart policy.
 *
 * One Manager per root: open() takes an exclusive lock on both roots first (root-lock.ts).
 * A record is changed and saved together or not at all (update()): on a full disk the
 * request fails with a 507 naming the file, and memory still agrees with the disk
 * (disk-full.ts).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeConfig } from '#lower/01-bundle/bundle.ts';
import type { Spec } from '#lib/oci-spec.ts';
import { generateConfig } from '#lower/01-bundle/config.ts';
import { OciRuntime, type RuntimeName } from '#lower/02-lifecycle/runtime.ts';
import { ShimClient, startShim } from '#lower/03-shim/client.ts';
import type { ExitStatus } from '#lower/03-shim/exit-status.ts';
import { EXEC_ID, type ExecState } from '#lower/03-shim/exec-process.ts';
import { isAlive, readIdentity, startTimeOf } from '#lower/03-shim/identity.ts';
import { checkTimerMs } from '#lower/03-shim/timer-range.ts';
import type { ContainerApi, ContainerInfo, WaitCondition } from './container-api.ts';
import { DEFAULT_CGROUP_PARENT, DEFAULT_ROOT, DEFAULT_RUN_ROOT, shortId } from './defaults.ts';
import { explainNoSpace } from './disk-full.ts';
import { badRequest, cannotRun, conflict, ManagerError, notFound } from './errors.ts';
import { execSession } from './exec-session.ts';
import { KeyedLock } from './keyed-lock.ts';
import { readLog, tailOffset } from './logs.ts';
import { RecordStore, type ContainerRecord } from './records.ts';
import { observeShim, reconcile } from './recovery.ts';
import { checkCreateRequest, checkExecRequest } from './requests.ts';
import { MAX_DELAY_MS, parseRestartPolicy, restartDelayMs, shouldRestart } from './restart-policy.ts';
import { RootLock } from './root-lock.ts';
import { ShimPool } from './shim-pool.ts';
import type { NetworkPlan, NetworkProvider } from './network-provider.ts';
import { joinNamespaces, type PodPlan, type PodProvider, type PodProviderFactory } from './pod-provider.ts';
import type { PreparedRootfs, RootfsProvider } from './rootfs-provider.ts';
import { removeCgroupTree } from '#lib/host/cgroups.ts';
import { mountsUnder } from '#lib/host/mountinfo.ts';
import { processesMentioning } from '#lib/host/processes.ts';
import { OutputBuffer, type Session, type SessionExit } from './session.ts';
import { stopContainer } from './stop.ts';
import { scaled } from '#lib/slow.ts';

const execFileAsync = promisify(execFile);

export interface ManagerOptions {
  /** Records, bundles and logs; default /var/lib/conman. */
  root?: string;
  /** Run-time state: shims, runtime state; default /run/conman. */
  runRoot?: string;
  /** Parent cgroup of every container; default /conman. */
  cgroupParent?: string;
  /** How long a shim waits for `delete` after its container exited (the manager usually says it at once). */
  shimLingerMs?: number;
  /** How long to wait for another `conman --no-daemon` on the same roots (conmand: 0, it leaves at once). */
  lockWaitMs?: number;
  /** Runs once the roots are locked, before recovery: a refusal here changes nothing (conmand checks its socket). */
  onLocked?: () => Promise<void> | void;
  /** Makes a rootfs from an image (chapter 05; rootfs-provider.ts); without one, a create needs a rootfs directory. */
  rootfsProvider?: RootfsProvider;
  /** Connects containers to networks (chapter 06; network-provider.ts); without one, a container has no network. */
  networkProvider?: NetworkProvider;
  /** Shims kept started ahead of need (shim-pool.ts): conmand's; default 0, every start starts a shim. */
  shimPoolSize?: number;
  /** Groups containers in pods (chapter 07; pod-provider.ts); without one, a request naming a pod is refused. */
  podProvider?: PodProviderFactory;
}

const DEFAULT_STOP_TIMEOUT_S = 10;
/** A run this long resets the restart back-off. */
const BACKOFF_RESET_MS = 10_000;
/** How long `stop` waits for the exit after SIGKILL before it gives up on the shim. */
const AFTER_SIGKILL_MS = scaled(10_000);
/** The longest grace period `stop` takes: a day (and well inside what a Node timer can wait). */
export const MAX_STOP_TIMEOUT_S = 86_400;
/** An exit that could not be saved (a full disk) is asked of the shim again this often. */
const EXIT_RETRY_MS = 2000;

/** SIGKILL every process whose command line names `dir` (a shim, its `runc create`); wait until they are gone. */
async function killProcessesOf(dir: string): Promise<void> {
  const pids = processesMentioning(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + scaled(5000);
  while (pids.some((pid) => startTimeOf(pid) !== undefined) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export class Manager implements ContainerApi {
  readonly root: string;
  readonly runRoot: string;
  readonly cgroupParent: string;
  private readonly store: RecordStore;
  private readonly records = new Map<string, ContainerRecord>();
  private readonly lock = new KeyedLock();
  private readonly events = new EventEmitter();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly exitRetries = new Map<string, NodeJS.Timeout>();
  private readonly shimLingerMs: number;
  private readonly rootfsProvider?: RootfsProvider;
  private readonly networkProvider?: NetworkProvider;
  private readonly shimPool?: ShimPool;
  readonly podProvider?: PodProvider;
  private closed = false;

  private constructor(
    options: ManagerOptions,
    private readonly rootLock: RootLock,
  ) {
    this.root = path.resolve(options.root ?? DEFAULT_ROOT);
    this.runRoot = path.resolve(options.runRoot ?? DEFAULT_RUN_ROOT);
    this.cgroupParent = options.cgroupParent ?? DEFAULT_CGROUP_PARENT;
    this.shimLingerMs = checkTimerMs(options.shimLingerMs ?? 10 * 60_000, 'shimLingerMs');
    this.store = new RecordStore(this.root);
    this.rootfsProvider = options.rootfsProvider;
    this.networkProvider = options.networkProvider;
    if (options.shimPoolSize) this.shimPool = new ShimPool(options.shimPoolSize, this.runRoot);
    this.podProvider = options.podProvider?.(this);
    fs.mkdirSync(path.join(this.runRoot, 'shims'), { recursive: true, mode: 0o700 });
    this.events.setMaxListeners(0);
  }

  /** Open the manager on its roots and recover every container it knew (recovery.ts). */
  static async open(options: ManagerOptions = {}): Promise<Manager> {
    // Before a record is read: a second manager on these roots must not recover them too.
    const lock = await RootLock.acquire([path.resolve(options.root ?? DEFAULT_ROOT), path.resolve(options.runRoot ?? DEFAULT_RUN_ROOT)], { waitMs: options.lockWaitMs });
    try {
      await options.onLocked?.();
      return await Manager.recoverAll(new Manager(options, lock));
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  private static async recoverAll(manager: Manager): Promise<Manager> {
    const records = manager.store.loadAll();
    for (const id of manager.store.interrupted) await manager.undoInterruptedCreate(id);
    for (const record of records) manager.records.set(record.id, record);
    await Promise.all(
      records.map((record) =>
        manager.lock.run(record.id, () =>
          manager.restoreRootfs(record).then(() => manager.recover(record)).catch((error: Error) => {
            // One broken container must not keep the others unmanaged.
            if ((error as Error).name === 'NotImplementedError') throw error;
            if (error instanceof ManagerError && error.status === 507) {
              // Its exit could not be saved (a full disk): it stays "running", retried until it can be.
              return console.error(`conman: recovering ${record.name} (${shortId(record.id)}): ${error.message}; trying again every ${EXIT_RETRY_MS / 1000} s`);
            }
            console.error(`conman: recovering ${record.name} (${shortId(record.id)}) failed, marked unknown: ${error.message}`);
            manager.derive(record, 'unknown');
          }),
        ),
      ),
    );
    // Once open has succeeded: warm shims for the starts to come (shim-pool.ts). Any left by
    // a manager before us exited with it.
    manager.shimPool?.fill();
    return manager;
  }

  /**
   * A create that crashed before its record was saved: what the providers made for it (a
   * mounted rootfs, a network namespace) is undone first, or the folder could not go (a mount
   * point) and the image would stay "in use" by a container that does not exist.
   */
  private async undoInterruptedCreate(id: string): Promise<void> {
    const dir = this.store.dirOf(id);
    await this.networkProvider?.detach(id, dir).catch((error: Error) => console.error(`conman: undoing the interrupted create of ${shortId(id)}: ${error.message}`));
    await this.rootfsProvider?.release(id, dir).catch((error: Error) => console.error(`conman: undoing the interrupted create of ${shortId(id)}: ${error.message}`));
    // Without the provider that made it (another chapter's conmand), a mount may still be there.
    for (const mount of mountsUnder(dir)) await execFileAsync('umount', ['-l', mount]).catch(() => {});
    this.store.remove(id);
  }

  // ----- where things are -----

  shimDir(id: string): string {
    return path.join(this.runRoot, 'shims', shortId(id));
  }

  private runtimeOf(record: ContainerRecord): OciRuntime {
    return new OciRuntime({ runtime: record.runtime, stateRoot: path.join(this.runRoot, record.runtime) });
  }

  private info(record: ContainerRecord): ContainerInfo {
    return { ...structuredClone(record), bundle: this.store.bundleOf(record.id), logFile: this.logFileOf(record), shimDir: this.shimDir(record.id) };
  }

  /** Its log: in its folder, unless its creator asked for a place (chapter 08: kubelet's). */
  private logFileOf(record: ContainerRecord): string {
    return record.logPath ?? this.store.logOf(record.id);
  }

  /** A full id, a name, or a unique prefix of an id → the container's id; 404 or 400 otherwise. */
  resolve(ref: string): string {
    if (this.records.has(ref)) return ref;
    for (const record of this.records.values()) if (record.name === ref) return record.id;
    const matches = ref.length > 0 ? [...this.records.keys()].filter((id) => id.startsWith(ref)) : [];
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw badRequest(`"${ref}" matches ${matches.length} containers: give more of the id`);
    throw notFound(ref);
  }

  private recordOf(id: string): ContainerRecord {
    const record = this.records.get(id);
    if (!record) throw notFound(id);
    return record;
  }

  /**
   * Change a record and save it, or neither: when the save fails (a full disk), the change is
   * undone in memory too, so memory and disk agree, and the error (a 507) names the file.
   */
  private update(record: ContainerRecord, change: (record: ContainerRecord) => void): void {
    const before = structuredClone(record);
    change(record);
    try {
      this.store.save(record);
    } catch (error) {
      for (const key of Object.keys(record)) delete (record as unknown as Record<string, unknown>)[key];
      Object.assign(record, before);
      throw explainNoSpace(error, path.join(this.store.dirOf(record.id), 'record.json'));
    }
  }

  /**
   * A status recovery worked out from the shim's folder ("unknown"): kept in memory even when it
   * cannot be saved, since the next open() works out the same from the same folder.
   */
  private derive(record: ContainerRecord, status: 'unknown'): void {
    record.status = status;
    delete record.pid;
    try {
      this.store.save(record);
    } catch (error) {
      console.error(`conman: ${record.name} is ${status}, not saved (the next start finds the same): ${(explainNoSpace(error, this.store.dirOf(record.id)) as Error).message}`);
    }
  }

  // ----- create, start -----

  /**
   * `editSpec`: a caller in this process (chapter 08's CRI) changes the runtime spec before it
   * is written, for what the request's JSON has no field for (mounts, a security context);
   * `logPath` puts the container's log there instead of in its folder (where kubelet reads it).
   */
  async create(body: unknown, options: { editSpec?: (spec: Spec) => void | Promise<void>; logPath?: string } = {}): Promise<{ id: string; name: string }> {
    const request = checkCreateRequest(body);
    const restartPolicy = parseRestartPolicy(request.restart ?? 'no');
    if (request.image !== undefined) {
      if (!this.rootfsProvider) throw badRequest(`"${request.image}" is not a directory, and this manager has no image store (chapter 05's conmand has one): give a rootfs directory`);
    } else if (!fs.existsSync(request.rootfs!) || !fs.statSync(request.rootfs!).isDirectory()) {
      throw badRequest(`rootfs ${request.rootfs} is not a directory: build one first (chapter 01: buildRootfs)`);
    }
    // A symlink to / would hand the host's own root to the container, writable.
    else if (fs.realpathSync(request.rootfs!) === '/') throw badRequest(`field "rootfs": ${request.rootfs} is the host's root (/): give the container a folder of its own`);
    const asked = (['network', 'publish', 'dns', 'dnsSearch', 'dnsOptions'] as const).find((field) => request[field] !== undefined);
    if (asked && !this.networkProvider) throw badRequest(`field "${asked}": this manager has no networks (chapter 06's conmand has them): leave it out`);
    if (request.pod !== undefined && !this.podProvider) throw badRequest(`field "pod": this manager has no pods (chapter 07's conmand has them): leave it out`);
    // Names are unique: check and take one under a single lock, so two creates cannot both win.
    return this.lock.run('\0names', async () => {
      if (request.name !== undefined) {
        const holder = [...this.records.values()].find((record) => record.name === request.name);
        if (holder) throw conflict(`the name "${request.name}" is already in use by container ${shortId(holder.id)}: remove it, or choose another name`);
      }
      let id: string;
      do id = randomBytes(32).toString('hex');
      while ([...this.records.keys()].some((other) => shortId(other) === shortId(id)));
      // In a pod: the provider says whether it is the pod's infra or a member, and where its cgroup goes.
      const podPlan: PodPlan | undefined = request.pod !== undefined ? await this.podProvider!.plan({ id, pod: request.pod, hostname: request.hostname, network: request.network, publish: request.publish, dns: request.dns, dnsSearch: request.dnsSearch, dnsOptions: request.dnsOptions }) : undefined;
      const member = podPlan?.role === 'member';
      const hostname = request.hostname ?? shortId(id);
      // From an image: the provider mounts the rootfs in the container's folder and says how to run it.
      let prepared: PreparedRootfs | undefined;
      // With networks: the provider checks the request and says what the spec needs (namespace, /etc files).
      let network: NetworkPlan | undefined;
      if (request.image !== undefined || this.networkProvider) {
        fs.mkdirSync(this.store.dirOf(id), { recursive: true, mode: 0o700 });
        try {
          if (request.image !== undefined) prepared = await this.rootfsProvider!.prepare({ id, dir: this.store.dirOf(id), image: request.image, args: request.args, entrypoint: request.entrypoint, env: request.env ?? {}, cwd: request.cwd });
          // A member's network is its pod's: it joins the infra's namespace at each start.
          if (!member) network = await this.networkProvider?.plan({ id, dir: this.store.dirOf(id), hostname, network: request.network, publish: request.publish ?? [], dns: request.dns ?? [], ...(request.dnsSearch ? { dnsSearch: request.dnsSearch } : {}), ...(request.dnsOptions ? { dnsOptions: request.dnsOptions } : {}) });
        } catch (error) {
          if (prepared) await this.rootfsProvider!.release(id, this.store.dirOf(id)).catch(() => {});
          this.store.remove(id);
          throw error;
        }
      }
      const record: ContainerRecord = {
        id,
        name: request.name ?? shortId(id),
        created: new Date().toISOString(),
        rootfs: prepared?.rootfs ?? request.rootfs!,
        args: prepared?.args ?? request.args,
        env: prepared?.env ?? request.env ?? {},
        ...((prepared?.cwd ?? request.cwd) ? { cwd: prepared?.cwd ?? request.cwd } : {}),
        ...(prepared ? { image: prepared.image } : {}),
        ...(prepared?.user ? { user: prepared.user } : {}),
        ...(prepared?.stopSignal ? { stopSignal: prepared.stopSignal } : {}),
        ...(request.hostname ? { hostname: request.hostname } : {}),
        ...(network ? { network: network.settings } : {}),
        ...(podPlan ? { pod: { id: podPlan.pod, role: podPlan.role } } : {}),
        tty: request.tty ?? false,
        stdin: (request.stdin ?? false) || (request.tty ?? false),
        runtime: request.runtime ?? 'runc',
        restartPolicy,
        autoRemove: request.autoRemove ?? false,
        status: 'created',
        restartCount: 0,
        restartDelaysMs: [],
        stoppedByUser: false,
        ...(options.logPath ? { logPath: options.logPath } : {}),
      };
      // The bundle first, the record last: a crash in between leaves a folder without a
      // record, which the next open() removes (records.ts).
      const user = record.user ? { uid: record.user.uid, gid: record.user.gid } : undefined;
      const cgroupParent = podPlan?.cgroupParent ?? this.cgroupParent;
      const spec = generateConfig({ args: record.args, env: record.env, cwd: record.cwd, hostname, cgroupsPath: `${cgroupParent}/${id}`, ...(user ? { user } : {}) });
      if (network) {
        // Join the namespace the provider makes at each start (or the host's: no network namespace at all).
        const others = (spec.linux?.namespaces ?? []).filter((namespace) => namespace.type !== 'network');
        spec.linux!.namespaces = network.namespace === 'host' ? others : [...others, { type: 'network', path: network.namespace.path }];
        for (const file of network.mounts) spec.mounts!.push({ destination: file.destination, type: 'bind', source: file.source, options: ['rbind', 'rprivate', 'rw'] });
      }
      if (member) {
        // Its hostname is the pod's (it joins the infra's UTS namespace: setting one would rename the pod).
        delete spec.hostname;
        for (const file of podPlan.mounts) spec.mounts!.push({ destination: file.destination, type: 'bind', source: file.source, options: ['rbind', 'rprivate', 'ro'] });
      }
      // A pod on the host's IPC or PID namespace: no entry of that type, so runc leaves the process in the host's.
      const hostNamespaces = podPlan?.hostNamespaces ?? [];
      if (hostNamespaces.length > 0) spec.linux!.namespaces = spec.linux!.namespaces!.filter((namespace) => !hostNamespaces.includes(namespace.type as 'ipc' | 'pid'));
      spec.root = { path: record.rootfs, readonly: false };
      spec.process.terminal = record.tty;
      if (record.user?.additionalGids) spec.process.user.additionalGids = record.user.additionalGids;
      // An image's env may set PATH or HOME: its value replaces the default (not a second entry).
      if (prepared) {
        const values = new Map((spec.process.env ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry] as const));
        spec.process.env = [...values.values()]; // (a later entry of the same name replaced the earlier one's value in place)
      }
      fs.mkdirSync(this.store.bundleOf(id), { recursive: true, mode: 0o700 });
      try {
        await options.editSpec?.(spec);
        await writeConfig(this.store.bundleOf(id), spec);
        // The log exists from the start: a follower (foreground `run`) holds it open from before
        // the first byte to after `--rm` removed the folder.
        if (record.logPath) fs.mkdirSync(path.dirname(record.logPath), { recursive: true });
        fs.writeFileSync(this.logFileOf(record), '', { mode: 0o640 });
        this.store.save(record);
      } catch (error) {
        if (prepared) await this.rootfsProvider!.release(id, this.store.dirOf(id)).catch(() => {});
        if (network) await this.networkProvider!.detach(id, this.store.dirOf(id)).catch(() => {});
        this.store.remove(id);
        throw explainNoSpace(error, this.store.dirOf(id));
      }
      this.records.set(id, record);
      return { id, name: record.name };
    });
  }

  /** Start a container; `beforeStart` runs once it exists and before it runs (attach() uses it). */
  async start(ref: string, beforeStart?: () => Promise<void>): Promise<ContainerInfo> {
    const id = this.resolve(ref);
    return this.lock.run(id, async () => {
      const record = this.recordOf(id);
      if (record.status === 'running') throw conflict(`container ${record.name} is already running`);
      if (record.status === 'removing') throw conflict(`container ${record.name} is being removed`);
      if (record.status === 'unknown') throw conflict(`container ${record.name} lost its shim, its state is unknown: remove it (conman rm)`);
      this.cancelRestart(id);
      record.restartCount = 0;
      record.restartDelaysMs = [];
      await this.startLocked(record, beforeStart);
      return this.info(record);
    });
  }

  /**
   * Start a shim for the container (the caller holds its lock). The shim creates the
   * container and waits (waitForStart): `beforeStart` may attach to it then, and see its
   * output from the first byte; then the shim is told to start it.
   */
  private async startLocked(record: ContainerRecord, beforeStart?: () => Promise<void>): Promise<void> {
    await this.cleanupShim(record); // the previous run's shim folder (and network), if any
    await this.attachNetwork(record);
    await this.joinPod(record);
    const shimOptions = {
      id: record.id,
      bundle: this.store.bundleOf(record.id),
      dir: this.shimDir(record.id),
      runtime: record.runtime,
      stateRoot: path.join(this.runRoot, record.runtime),
      stdin: record.stdin,
      logFile: this.logFileOf(record),
      lingerMs: this.shimLingerMs,
      waitForStart: true,
    };
    // In a pod, the pod's shim runs it (pod-provider.ts); otherwise a shim of its own, warm if the pool has one.
    const shimStarted = record.pod ? this.podProvider!.startShim(record.pod.id, shimOptions) : startShim(shimOptions, this.shimPool?.take());
    const started = await shimStarted.catch(async (error: Error) => {
      await this.cleanupShim(record); // a shim that timed out may have left a container
      throw cannotRun(error.message) ?? error;
    });
    // The run's start time is the moment it is asked to start: a process that exits at once
    // may be reaped (its finishedAt taken) before start() even returns here.
    const startedAt = new Date().toISOString();
    try {
      await beforeStart?.();
      await new ShimClient(this.shimDir(record.id)).start();
    } catch (error) {
      await this.cleanupShim(record); // created, never started: the shim deletes it and exits
      throw error;
    }
    try {
      this.markRunning(record, started.pid, startedAt);
    } catch (error) {
      await this.killAndCleanup(record); // it runs, but no record can say so (a full disk): undo it
      throw error;
    }
    this.watch(record);
  }

  /** A new run began: save it, and forget the last one's exit. */
  private markRunning(record: ContainerRecord, pid: number, startedAt = new Date().toISOString()): void {
    this.update(record, (r) => {
      Object.assign(r, { status: 'running', pid, startedAt, stoppedByUser: false });
      delete r.exit;
      delete r.finishedAt;
      delete r.nextRestartAt;
    });
  }

  // ----- learning of exits -----

  /**
   * Wait on the shim in the background; record the exit when it comes. The answer belongs to
   * this run (its startedAt): by the time it comes, `stop` may have recorded it and `start`
   * begun another run, which this exit must not touch.
   */
  private watch(record: ContainerRecord): void {
    const { id, startedAt: run } = record;
    const dir = this.shimDir(id);
    new ShimClient(dir).wait().then(
      (exit) => this.lock.run(id, () => this.recordExitLocked(id, exit, run)),
      () => this.lock.run(id, () => this.shimLost(id, run)),
    ).catch((error: Error) => console.error(`conman: after the exit of ${shortId(id)}: ${error.message}`));
  }

  /** The shim closed our `wait` without an answer: did it write the exit first, or vanish? */
  private async shimLost(id: string, run: string | undefined): Promise<void> {
    if (this.closed || this.records.get(id)?.startedAt !== run) return;
    const dir = this.shimDir(id);
    // A killed process closes its sockets a moment before it is a zombie: let it finish dying.
    let observed = observeShim(dir);
    for (let waited = 0; waited < 1000 && observed.shimAlive && !observed.exit; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      observed = observeShim(dir);
    }
    if (observed.exit) return this.recordExitLocked(id, observed.exit, run);
    const current = this.records.get(id);
    if (current?.status !== 'running') return;
    if (observed.shimAlive) return this.watch(current); // alive after all: listen again
    return this.lostShimLocked(current);
  }

  /**
   * A running container's shim is gone, and left no exit. If its restart policy would restart
   * it after a kill (`always`, or `on-failure` with retries left), kill what may be left of it
   * (`runtime delete --force`) and record it as killed (137), so the policy restarts it: what
   * dockerd does when containerd loses a shim. Otherwise it is `unknown`: its process may still
   * do useful work, and `rm` removes it.
   */
  private async lostShimLocked(record: ContainerRecord): Promise<void> {
    let restart = false;
    try {
      restart = !record.autoRemove && shouldRestart(record.restartPolicy, 137, record.restartCount, record.stoppedByUser);
    } catch {
      restart = false; // (an unfinished restart-policy exercise: as before, unknown)
    }
    if (!restart) return this.derive(record, 'unknown');
    console.error(`conman: the shim of ${record.name} (${shortId(record.id)}) vanished; killing what is left and restarting it (restart policy ${record.restartPolicy.name})`);
    await this.runtimeOf(record).delete(record.id, { force: true }).catch(() => {});
    return this.recordExitLocked(record.id, { exitCode: 137, signal: 'SIGKILL', oomKilled: false, finishedAt: new Date().toISOString() }, record.startedAt);
  }

  /**
   * The container exited: record it, remove its runtime state, then --rm or restart policy.
   * Idempotent: the watcher and `stop` may both report the same exit. Whoever waits for the
   * exit hears of it last, when all that is done (or failed: then they still hear of it).
   */
  private async recordExitLocked(id: string, exit: ExitStatus, run: string | undefined): Promise<void> {
    const record = this.records.get(id);
    if (!record || record.status !== 'running' || record.startedAt !== run) return;
    let failure: unknown;
    let restart = false;
    try {
      restart = !record.autoRemove && shouldRestart(record.restartPolicy, exit.exitCode, record.restartCount, record.stoppedByUser);
    } catch (error) {
      failure = error; // still record the exit below; report the error afterwards
    }
    try {
      // First the record: a crash after this re-finds exit.json, no harm.
      this.update(record, (r) => {
        r.exit = exit;
        r.finishedAt = exit.finishedAt;
        delete r.pid;
        // Back-off starts over after a run of 10 s or more, as Docker's does.
        if (Date.parse(exit.finishedAt) - Date.parse(r.startedAt ?? '') >= BACKOFF_RESET_MS) r.restartDelaysMs = [];
        if (restart) {
          const delay = restartDelayMs(r.restartDelaysMs.length);
          r.status = 'restarting';
          r.restartDelaysMs = [...r.restartDelaysMs, delay].slice(-20);
          r.nextRestartAt = new Date(Date.now() + delay).toISOString();
        } else {
          r.status = 'exited';
        }
      });
    } catch (error) {
      // Not saved (a full disk): still "running", here and on disk. The shim keeps the exit
      // (and retries its exit.json) until told to delete: ask it again in a while.
      this.retryExitLater(record);
      throw error;
    }
    try {
      await this.cleanupShim(record);
      if (record.autoRemove) await this.removeLocked(record);
      else if (restart) this.scheduleRestart(record);
    } finally {
      this.events.emit(`exit:${id}`, exit);
    }
    if (failure) throw failure;
  }

  /** An exit that could not be saved: ask the shim for it again in a while (watch()). */
  private retryExitLater(record: ContainerRecord): void {
    if (this.exitRetries.has(record.id) || this.closed) return;
    const run = record.startedAt;
    const timer = setTimeout(() => {
      this.exitRetries.delete(record.id);
      const current = this.records.get(record.id);
      if (!this.closed && current?.status === 'running' && current.startedAt === run) this.watch(current);
    }, EXIT_RETRY_MS);
    timer.unref();
    this.exitRetries.set(record.id, timer);
  }

  private scheduleRestart(record: ContainerRecord): void {
    // (Clamped: a record edited by hand must not make a timer overflow and fire at once.)
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, Date.parse(record.nextRestartAt ?? '') - Date.now() || 0));
    const timer = setTimeout(() => {
      this.restartTimers.delete(record.id);
      void this.lock
        .run(record.id, async () => {
          const current = this.records.get(record.id);
          if (!current || current.status !== 'restarting' || this.closed) return;
          current.restartCount += 1;
          await this.startLocked(current);
        })
        .catch((error: Error) => {
          console.error(`conman: restarting ${record.name} failed: ${error.message}`);
          const current = this.records.get(record.id);
          if (current?.status !== 'restarting') return;
          try {
            this.update(current, (r) => void (r.status = 'exited'));
          } catch {
            // Not even that can be saved (a full disk): it stays "restarting"; try again later.
            if (!this.closed) this.scheduleRestart(current);
          }
        });
    }, delay);
    timer.unref();
    this.restartTimers.set(record.id, timer);
  }

  private cancelRestart(id: string): void {
    clearTimeout(this.restartTimers.get(id));
    this.restartTimers.delete(id);
  }

  /** Kill the container if its shim still runs it, then clean up as below (rm, an undone start). */
  private async killAndCleanup(record: ContainerRecord): Promise<void> {
    const dir = this.shimDir(record.id);
    const identity = readIdentity(dir);
    if (identity && isAlive(identity) && !observeShim(dir).exit) {
      const shim = new ShimClient(dir);
      await shim.kill('SIGKILL').catch(() => {});
      await Promise.race([shim.wait().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, scaled(5000)))]);
    }
    await this.cleanupShim(record);
  }

  /** Make sure no shim, runtime state or shim folder is left from the container's last run. */
  private async cleanupShim(record: ContainerRecord): Promise<void> {
    const dir = this.shimDir(record.id);
    const identity = readIdentity(dir);
    // The shim deletes the runtime's state, then exits. One that cannot (still starting after
    // its starter died, or stuck) is killed, with the runtime call it may have running.
    // (A pod's shim runs the pod's other containers too: it stays.)
    const deleted = identity && isAlive(identity) ? await new ShimClient(dir).delete({ sharedShim: Boolean(record.pod) }).then(() => true, () => false) : !fs.existsSync(dir);
    if (!deleted) {
      // A pooled shim's command line does not name the folder: kill it by its identity too.
      // (Not a pod's shim: it runs the pod's other containers too.)
      if (identity && isAlive(identity) && !record.pod) process.kill(identity.pid, 'SIGKILL');
      await killProcessesOf(dir);
    }
    const runtime = this.runtimeOf(record);
    if (fs.existsSync(path.join(runtime.stateRoot, record.id))) {
      // No shim did it (it vanished, or its linger time ran out): delete --force also kills.
      await runtime.delete(record.id, { force: true }).catch(() => {});
    }
    // A `runtime create` killed half-way may have made the cgroup and no state to delete it by.
    if (!deleted) await removeCgroupTree(this.cgroupOf(record)).catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
    await this.detachNetwork(record);
  }

  /** Connect it to its network before a run (network-provider.ts); a failure undoes what was done. */
  private async attachNetwork(record: ContainerRecord): Promise<void> {
    if (!record.network) return;
    if (!this.networkProvider) throw conflict(`container ${record.name} has the network "${record.network.network}": start it with a manager that has networks (chapter 06's conman or conmand)`);
    const status = await this.networkProvider.attach(record.id, this.store.dirOf(record.id), record.network, record.hostname ?? shortId(record.id));
    try {
      this.update(record, (r) => void (r.networkStatus = status));
    } catch (error) {
      await this.networkProvider.detach(record.id, this.store.dirOf(record.id)).catch(() => {});
      throw error;
    }
  }

  /** A pod member joins its pod's namespaces as they are now: their paths go into its bundle before each start. */
  private async joinPod(record: ContainerRecord): Promise<void> {
    if (!record.pod) return;
    if (!this.podProvider) throw conflict(`container ${record.name} is in a pod: start it with a manager that has pods (chapter 07's conman or conmand)`);
    if (record.pod.role !== 'member') return;
    await joinNamespaces(this.store.bundleOf(record.id), await this.podProvider.namespaces(record.pod.id));
  }

  /**
   * Disconnect it after a run. Idempotent (the provider's detach is): called after every run,
   * and before every start, so a manager that crashed in between leaves nothing behind.
   */
  private async detachNetwork(record: ContainerRecord): Promise<void> {
    if (!record.network || !this.networkProvider) return;
    await this.networkProvider.detach(record.id, this.store.dirOf(record.id));
    if (!record.networkStatus) return;
    try {
      this.update(record, (r) => void delete r.networkStatus);
    } catch (error) {
      // (a full disk: the address stays in the record until the next save; it is gone from the host)
      delete record.networkStatus;
      console.error(`conman: ${record.name}: ${(error as Error).message}`);
    }
  }

  /** The container's cgroup, relative to each hierarchy, as its bundle names it. */
  private cgroupOf(record: ContainerRecord): string {
    try {
      const spec = JSON.parse(fs.readFileSync(path.join(this.store.bundleOf(record.id), 'config.json'), 'utf8')) as { linux?: { cgroupsPath?: string } };
      return (spec.linux?.cgroupsPath ?? `${this.cgroupParent}/${record.id}`).replace(/^\//, '');
    } catch {
      return `${this.cgroupParent}/${record.id}`.replace(/^\//, '');
    }
  }

  // ----- recovery -----

  /** One container after open(): believe the shim's folder over the record (recovery.ts). */
  private async recover(record: ContainerRecord): Promise<void> {
    const dir = this.shimDir(record.id);
    const decision = reconcile(record, observeShim(dir));
    // Not running, before or after the outage: a crash may have cut its detach short (or its attach).
    if (decision.status !== 'running' && decision.status !== 'unknown' && decision.status !== 'removing') await this.detachNetwork(record);
    switch (decision.status) {
      case 'removing':
        return this.removeLocked(record);
      case 'running':
        if (record.status !== 'running') {
          // A crash during start (the record is saved after it). If the container runs, it
          // was started: adopt it. If its shim only created it (or does not answer yet), the
          // client was told the start failed: undo it, as if it had never begun.
          const state = await new ShimClient(dir).state().catch(() => undefined);
          if (state?.status !== 'running') return this.cleanupShim(record);
          try {
            this.markRunning(record, state.pid);
          } catch (error) {
            await this.killAndCleanup(record); // no record can say it runs (a full disk): undo it
            throw error;
          }
        }
        return this.watch(record);
      case 'exited':
        if (!decision.exit) return; // exited before the outage, and so it stays
        if (record.exit?.finishedAt === decision.exit.finishedAt) {
          // Already recorded before the crash; only the clean-up may be missing.
          await this.cleanupShim(record);
          if (record.status === 'restarting') this.scheduleRestart(record);
          return;
        }
        record.status = 'running';
        return this.recordExitLocked(record.id, decision.exit, record.startedAt);
      case 'unknown':
        if (record.status === 'running') return this.lostShimLocked(record); // (maybe restarted)
        return;
      case 'restarting':
        return this.scheduleRestart(record);
      default:
        return;
    }
  }

  /** An image's rootfs is a mount: after a reboot it is gone, and made again here (rootfs-provider.ts). */
  private async restoreRootfs(record: ContainerRecord): Promise<void> {
    if (!record.image || record.status === 'removing') return;
    if (!this.rootfsProvider) throw new Error(`it runs from the image ${record.image}, and this manager has no image store (chapter 05's conmand has one)`);
    await this.rootfsProvider.restore(record.id, this.store.dirOf(record.id));
  }

  // ----- stop, kill, remove -----

  /**
   * Change a running container's limits in place (`runc update`): chapter 08's
   * UpdateContainerResources. Memory comes with no swap beyond it, as at create.
   */
  async updateResources(ref: string, resources: { memoryBytes?: number; cpuShares?: number; cpuQuota?: number; cpuPeriod?: number }): Promise<void> {
    const id = this.resolve(ref);
    await this.lock.run(id, async () => {
      const record = this.recordOf(id);
      if (record.status !== 'running') throw conflict(`container ${record.name} is not running (${record.status}): its limits are set when it starts`);
      const args = ['update'];
      if (resources.memoryBytes) args.push('--memory', String(resources.memoryBytes), '--memory-swap', String(resources.memoryBytes));
      if (resources.cpuShares) args.push('--cpu-share', String(resources.cpuShares));
      if (resources.cpuQuota) args.push('--cpu-quota', String(resources.cpuQuota), '--cpu-period', String(resources.cpuPeriod || 100_000));
      if (args.length === 1) return;
      await new OciRuntime({ runtime: record.runtime as RuntimeName, stateRoot: path.join(this.runRoot, record.runtime) }).invoke([...args, id]);
    });
  }

  /** Log rotation's second half: the shim writes the log at its path again, a new file if it was renamed (the CRI's ReopenContainerLog). */
  async reopenLog(ref: string): Promise<void> {
    const id = this.resolve(ref);
    const record = this.recordOf(id);
    if (record.status !== 'running') throw conflict(`container ${record.name} is not running (${record.status}): its log is closed`);
    await new ShimClient(this.shimDir(id)).reopenLog();
  }

  async stop(ref: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_S): Promise<ContainerInfo> {
    if (!(timeoutSeconds >= 0 && timeoutSeconds <= MAX_STOP_TIMEOUT_S)) {
      throw badRequest(`stop timeout must be from 0 to ${MAX_STOP_TIMEOUT_S} seconds (a day), not ${timeoutSeconds}`);
    }
    const id = this.resolve(ref);
    return this.lock.run(id, async () => {
      const record = this.recordOf(id);
      if (record.status === 'restarting') {
        this.update(record, (r) => {
          Object.assign(r, { status: 'exited', stoppedByUser: true });
          delete r.nextRestartAt;
        });
        this.cancelRestart(id);
      }
      if (record.status !== 'running') return this.info(record);
      // Before the signal: the restart policy must not revive it. (Not saved? Nothing is sent.)
      this.update(record, (r) => void (r.stoppedByUser = true));
      // Bounded: a stuck shim must not hold this container's lock (and every later request) for ever.
      let timer: NodeJS.Timeout | undefined;
      const giveUp = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the shim of ${record.name} did not report the exit ${AFTER_SIGKILL_MS / 1000} s after SIGKILL; see ${this.shimDir(id)}/shim.log, or remove the container (conman rm -f)`)), checkTimerMs(timeoutSeconds * 1000 + AFTER_SIGKILL_MS, 'the stop deadline'));
      });
      try {
        const exit = await Promise.race([stopContainer(new ShimClient(this.shimDir(id)), timeoutSeconds * 1000, record.stopSignal ?? 'SIGTERM'), giveUp]);
        await this.recordExitLocked(id, exit, record.startedAt);
      } finally {
        clearTimeout(timer);
      }
      return this.info(record);
    });
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const name = /^\d+$/.test(signal) ? signal : signal.toUpperCase().replace(/^(SIG)?/, 'SIG');
    if (!/^\d+$/.test(name) && !Object.hasOwn(os.constants.signals, name)) throw badRequest(`unknown signal "${signal}": use a name like SIGTERM or HUP, or a number`);
    // Linux has signals 1 to 64 (SIGRTMAX); 0 only probes, and sends nothing.
    if (/^\d+$/.test(name) && !(Number(name) >= 1 && Number(name) <= 64)) throw badRequest(`signal ${signal}: a signal number must be from 1 to 64`);
    const id = this.resolve(ref);
    await this.lock.run(id, async () => {
      const record = this.recordOf(id);
      if (record.status !== 'running') throw conflict(`container ${record.name} is not running (${record.status})`);
      await new ShimClient(this.shimDir(id)).kill(name).catch((error: Error) => {
        // It exited a moment ago; the manager is about to record it.
        if (/already exited/.test(error.message)) throw conflict(`container ${record.name} is not running (it has just exited)`);
        throw error;
      });
    });
  }

  async remove(ref: string, force = false): Promise<void> {
    const id = this.resolve(ref);
    await this.lock.run(id, async () => {
      const record = this.recordOf(id);
      if (record.status === 'running' && !force) {
        throw conflict(`container ${record.name} is running: stop it first, or remove it with rm -f`);
      }
      if (record.pod?.role === 'infra') this.podProvider?.checkRemoveInfra(record.pod.id);
      await this.removeLocked(record);
    });
  }

  /**
   * Remove a container whatever its state. "removing" is saved first: a manager that
   * crashes half-way finishes the job when it opens again.
   */
  private async removeLocked(record: ContainerRecord): Promise<void> {
    if (record.image && !this.rootfsProvider) throw conflict(`container ${record.name} runs from the image ${record.image}: remove it with a manager that has images (chapter 05's conman or conmand)`);
    if (record.network && !this.networkProvider) throw conflict(`container ${record.name} has the network "${record.network.network}": remove it with a manager that has networks (chapter 06's conman or conmand)`);
    if (record.pod && !this.podProvider) throw conflict(`container ${record.name} is in a pod: remove it with a manager that has pods (chapter 07's conman or conmand)`);
    this.cancelRestart(record.id);
    if (record.status !== 'removing') {
      try {
        this.update(record, (r) => void (r.status = 'removing'));
      } catch (error) {
        if (!(error instanceof ManagerError && error.status === 507)) throw error;
        // A full disk: remove it anyway, rm is how space is freed. Without the mark, a crash
        // from here on leaves a record whose shim is gone: unknown at the next start, and a
        // second rm finishes the job.
        console.error(`conman: removing ${record.name} without saving "removing" first: ${error.message}`);
      }
    }
    await this.killAndCleanup(record);
    // Unmounted before the folder goes: removing through a mounted rootfs would empty the image's view.
    if (record.image) await this.rootfsProvider!.release(record.id, this.store.dirOf(record.id));
    this.store.remove(record.id);
    this.records.delete(record.id);
    this.events.emit(`removed:${record.id}`, record.exit);
  }

  // ----- look -----

  async list(all = false): Promise<ContainerInfo[]> {
    return [...this.records.values()]
      .filter((record) => all || record.status === 'running' || record.status === 'restarting' || record.status === 'unknown')
      .sort((a, b) => b.created.localeCompare(a.created))
      .map((record) => this.info(record));
  }

  async inspect(ref: string): Promise<ContainerInfo> {
    return this.info(this.recordOf(this.resolve(ref)));
  }

  async watchExit(ref: string, condition: WaitCondition = 'not-running'): Promise<{ exited: Promise<ExitStatus | undefined>; cancel: () => void }> {
    const id = this.resolve(ref);
    const record = this.recordOf(id);
    if (condition === 'not-running' && record.status !== 'running' && record.status !== 'created') {
      return { exited: Promise.resolve(record.exit), cancel: () => {} };
    }
    let cancel = () => {};
    const exited = new Promise<ExitStatus | undefined>((resolve) => {
      const onExit = (exit: ExitStatus) => (cancel(), resolve(exit));
      const onRemoved = (last?: ExitStatus) => (cancel(), resolve(last));
      this.events.once(`exit:${id}`, onExit);
      this.events.once(`removed:${id}`, onRemoved);
      // The waiter left (a client hung up): forget it.
      cancel = () => (this.events.off(`exit:${id}`, onExit), this.events.off(`removed:${id}`, onRemoved));
    });
    return { exited, cancel };
  }

  async logs(ref: string, options: { follow?: boolean; tail?: number; signal?: AbortSignal } = {}): Promise<AsyncIterable<Buffer>> {
    const id = this.resolve(ref);
    const file = this.logFileOf(this.records.get(id)!);
    if (options.tail !== undefined && (!Number.isInteger(options.tail) || options.tail < 0)) throw badRequest(`tail must be a whole number ≥ 0, not ${options.tail}`);
    const size = fs.existsSync(file) ? fs.statSync(file).size : 0; // what is shown, unless following
    const offset = options.tail !== undefined && size > 0 ? tailOffset(file, options.tail, size) : 0;
    // Following ends once it has stopped: a created container has not run yet (`run` opens its
    // log before it starts it, so that not a byte is missed even with --rm).
    const isOver = () => {
      const status = this.records.get(id)?.status;
      return status !== 'running' && status !== 'restarting' && status !== 'created';
    };
    return readLog(file, { offset, until: size, follow: options.follow ?? false, isOver, signal: options.signal });
  }

  // ----- attach, exec -----

  /**
   * The container's main process, live: its output from now on (what came before is in the
   * log) and its stdin. With `start`, attach between the shim's create and start (`run -it`,
   * `start -a`), so not a byte is missed, and give the terminal its size (`size`) before
   * the process can ask for it, as docker's ConsoleSize does.
   */
  async attach(ref: string, options: { start?: boolean; size?: { rows: number; cols: number } } = {}): Promise<Session> {
    const id = this.resolve(ref);
    const record = this.recordOf(id);
    if (!options.start && record.status !== 'running') {
      throw conflict(`container ${record.name} is not running (${record.status}): start it first (conman start -a, or run -it)`);
    }
    const shim = new ShimClient(this.shimDir(id));
    const { exited, cancel } = await this.watchExit(id, 'next-exit');
    let socket: net.Socket | undefined;
    try {
      if (options.start) {
        await this.start(id, async () => {
          socket = await shim.attach();
          // Best effort, as any resize: a terminal of the wrong size is no reason not to run.
          if (options.size && record.tty) await shim.resize(options.size.rows, options.size.cols).catch(() => {});
        });
      } else {
        socket = await shim.attach();
      }
    } catch (error) {
      cancel();
      socket?.destroy();
      throw error;
    }
    const attached = socket!;
    const output = new OutputBuffer();
    attached.on('data', (chunk: Buffer) => output.push('stdout', chunk));
    attached.on('error', () => {});
    attached.resume();
    const exit = (async (): Promise<SessionExit> => {
      const status = await exited;
      if (!status) throw new Error(`container ${record.name} was removed`);
      return { exitCode: status.exitCode, ...(status.signal ? { signal: status.signal } : {}) };
    })();
    exit.catch(() => {});
    return {
      onOutput: (listener) => output.listen(listener),
      write: (chunk) => void attached.write(chunk),
      endInput: () => void shim.closeStdin().catch(() => {}), // like containerd's CloseIO
      resize: (rows, cols) => void shim.resize(rows, cols).catch(() => {}),
      exit,
      close: () => (cancel(), attached.destroy()),
    };
  }

  /** Another process in the container, run by its shim (exec-session.ts); `execId` names it for a later attach. */
  /** `size`: a terminal's size from the start; `execId`: the id the API gave at the create step (else a new one). */
  async exec(ref: string, body: unknown, options: { size?: { rows: number; cols: number }; execId?: string } = {}): Promise<Session> {
    const execId = options.execId ?? randomBytes(8).toString('hex');
    const request = checkExecRequest(body);
    const id = this.resolve(ref);
    const record = this.recordOf(id);
    if (record.status !== 'running') throw conflict(`container ${record.name} is not running (${record.status}): start it first`);
    const shim = new ShimClient(this.shimDir(id));
    const { client } = await shim.exec(execId, { args: request.args, env: request.env, cwd: request.cwd, tty: request.tty, stdin: request.stdin, ...(request.tty && options.size ? { size: options.size } : {}) }).catch((error: Error) => {
      // runc could not run the process: a command not in the image is the request's fault (a 400).
      throw cannotRun(error.message) ?? error;
    });
    return execSession(client, { tty: request.tty === true });
  }

  /** The container whose shim runs exec `execId`: its folder says (execs/ID, kept until the container goes). */
  private containerOfExec(execId: string): string {
    if (!EXEC_ID.test(execId)) throw notFound(`exec ${execId}`);
    const id = [...this.records.keys()].find((candidate) => fs.existsSync(path.join(this.shimDir(candidate), 'execs', execId)));
    if (!id) throw notFound(`exec ${execId} (an exec is kept until its container is removed)`);
    return id;
  }

  /** An exec's state: running or exited (with its exit code), as the shim keeps it. */
  async inspectExec(execId: string): Promise<ExecState & { container: string }> {
    const id = this.containerOfExec(execId);
    const { ok: _ok, ...state } = (await new ShimClient(this.shimDir(id)).forExec(execId).state()) as ExecState & { ok?: boolean };
    return { ...state, container: id };
  }

  /** Signal an exec process (chapter 08's ExecSync ends one that outlives its timeout). */
  async killExec(execId: string, signal = 'SIGKILL'): Promise<void> {
    const { container } = await this.inspectExec(execId);
    await new ShimClient(this.shimDir(container)).forExec(execId).kill(signal);
  }

  /** Back to an exec that runs on (or ended) without a client: a conman that lost conmand, or `exec -d`. */
  async attachExec(execId: string): Promise<Session> {
    const state = await this.inspectExec(execId);
    return execSession(new ShimClient(this.shimDir(state.container)).forExec(execId), { tty: state.tty });
  }

  /** Stop watching (containers keep running: that is the point). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.shimPool?.close();
    for (const id of [...this.restartTimers.keys()]) this.cancelRestart(id);
    for (const timer of this.exitRetries.values()) clearTimeout(timer);
    this.rootLock.release();
  }
}
