/**
 * Probe workers: one timer per running container and probe (liveness, readiness), which
 * waits initialDelaySeconds, then probes every periodSeconds with timeoutSeconds, and turns
 * the results into a verdict only after enough in a row:
 *
 *   failureThreshold failures in a row  → liveness: the container is killed (the agent then
 *                                         restarts it as its restart policy says);
 *                                         readiness: not ready (out of a Service's endpoints)
 *   successThreshold successes in a row → ready again
 *
 * A readiness probe starts "not ready": a container is ready only once it has answered.
 * Every failure is an Unhealthy event ("Liveness probe failed: HTTP probe failed with
 * statuscode: 500").
 *
 * How real kubelet differs: its prober manager (pkg/kubelet/prober) runs one goroutine per
 * container and probe, as here, with a random delay before the first probe so that a node's
 * probes do not all fire at once; it also has startup probes, which hold the other two off
 * until the container has started.
 */
import type { Cri } from '#lower/08-cri/cri-client.ts';
import type { Probe } from './manifest.ts';
import { httpGetProbe, tcpSocketProbe, type ProbeResult } from './probe.ts';

export type ProbeKind = 'liveness' | 'readiness';

export interface ProbeTarget {
  containerId: string;
  /** For events: "default/web" and the container's name. */
  pod: string;
  name: string;
  kind: ProbeKind;
  probe: Probe;
  /** Where network probes go: the pod's IP, or 127.0.0.1 on the host's network. */
  host: string;
  /** The container's named ports (httpGet.port: "http"). */
  ports: Record<string, number>;
}

export interface ProberHooks {
  /** A probe failed (each time): an Unhealthy event. */
  unhealthy(target: ProbeTarget, message: string): void;
  /** Liveness failed failureThreshold times in a row: kill the container. */
  livenessFailed(target: ProbeTarget, message: string): void;
  /** A readiness verdict changed: the status changes. */
  readinessChanged(target: ProbeTarget): void;
}

/** Run one probe of any kind, once. */
export async function runProbe(cri: Cri, target: ProbeTarget): Promise<ProbeResult> {
  const { probe } = target;
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  const portOf = (port: number | string) => (typeof port === 'number' || /^\d+$/.test(port) ? Number(port) : target.ports[port]);
  if (probe.httpGet) {
    return httpGetProbe({ host: probe.httpGet.host || target.host, port: portOf(probe.httpGet.port), path: probe.httpGet.path ?? '/', headers: probe.httpGet.httpHeaders }, timeoutMs);
  }
  if (probe.tcpSocket) return tcpSocketProbe(probe.tcpSocket.host || target.host, portOf(probe.tcpSocket.port), timeoutMs);
  // exec: the CRI's ExecSync, which kills the command past its timeout (chapter 08).
  try {
    const reply = await cri.runtime('ExecSync', { container_id: target.containerId, cmd: probe.exec!.command, timeout: probe.timeoutSeconds ?? 1 }, timeoutMs + 5000);
    if (reply.exit_code === 0) return { ok: true, message: '' };
    const output = `${reply.stdout.toString()}${reply.stderr.toString()}`.trim();
    return { ok: false, message: output || `command ${JSON.stringify(probe.exec!.command.join(' '))} exited with ${reply.exit_code}` };
  } catch (error) {
    return { ok: false, message: /DEADLINE_EXCEEDED/.test(String(error)) ? `command timed out after ${probe.timeoutSeconds ?? 1}s` : (error as Error).message };
  }
}

class Worker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private successes = 0;
  /** Readiness: false until it answered; liveness: true until it failed enough. */
  result: boolean;

  constructor(
    readonly target: ProbeTarget,
    readonly key: string,
    private readonly cri: Cri,
    private readonly hooks: ProberHooks,
  ) {
    this.result = target.kind === 'liveness';
    this.timer = setTimeout(() => this.tick(), (target.probe.initialDelaySeconds ?? 0) * 1000);
  }

  private async tick(): Promise<void> {
    const { probe, kind } = this.target;
    // A probe that throws (a bug, an unfinished exercise) is a failed probe, and its message
    // is the Unhealthy event's: the agent goes on, as kubelet does with a probe's error.
    const outcome = await runProbe(this.cri, this.target).catch((error: Error) => ({ ok: false, message: `the probe itself failed: ${error.message}` }));
    if (this.stopped) return;
    if (outcome.ok) {
      this.failures = 0;
      this.successes++;
      if (!this.result && this.successes >= (probe.successThreshold ?? 1)) {
        this.result = true;
        this.hooks.readinessChanged(this.target);
      }
    } else {
      this.successes = 0;
      this.failures++;
      this.hooks.unhealthy(this.target, outcome.message);
      if (this.result && this.failures >= (probe.failureThreshold ?? 3)) {
        this.result = false;
        if (kind === 'liveness') {
          this.hooks.livenessFailed(this.target, outcome.message);
          return this.stop(); // the container is being killed: its next one gets a new worker
        }
        this.hooks.readinessChanged(this.target);
      }
    }
    this.timer = setTimeout(() => this.tick(), (probe.periodSeconds ?? 10) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

export class Prober {
  private workers = new Map<string, Worker>();

  constructor(private readonly cri: Cri, private readonly hooks: ProberHooks) {}

  /** The probes that should run now (every running container's): new ones start, gone or changed ones stop. */
  update(targets: ProbeTarget[]): void {
    const wanted = new Map(targets.map((target) => [`${target.containerId} ${target.kind}`, target]));
    for (const [id, worker] of this.workers) {
      const target = wanted.get(id);
      if (!target || JSON.stringify(target) !== worker.key) {
        worker.stop();
        this.workers.delete(id);
      }
    }
    for (const [id, target] of wanted) {
      if (!this.workers.has(id)) this.workers.set(id, new Worker(target, JSON.stringify(target), this.cri, this.hooks));
    }
  }

  /** Every readiness verdict, as one string: the statuses change when it does. */
  summary(): string {
    return [...this.workers].filter(([id]) => id.endsWith(' readiness')).map(([id, worker]) => `${id}=${worker.result}`).join(',');
  }

  /** The readiness verdict for a container; undefined when it has no readiness probe. */
  ready(containerId: string): boolean | undefined {
    return this.workers.get(`${containerId} readiness`)?.result;
  }

  stop(): void {
    for (const worker of this.workers.values()) worker.stop();
    this.workers.clear();
  }
}
