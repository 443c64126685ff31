/**
 * Events: what happened to a pod, in Kubernetes' words (Pulled, Created, Started, Killing,
 * BackOff, Unhealthy, Failed), for `conman-agent describe pod` and the agent's log.
 *
 * The same event again (same reason and message) is counted, not repeated: a crash loop is
 * one BackOff line "(x12 over 5m)", as kubectl shows it. Each pod keeps its last 50.
 *
 * How real kubelet differs: it posts Event objects to the API server (through client-go's
 * EventRecorder, which does the same counting), where they live for an hour; here they live
 * in the pod's status file.
 */

export interface PodEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
}

const KEEP = 50;

export class EventLog {
  private byPod = new Map<string, PodEvent[]>();
  /** Counts every event recorded: a status changes only when this, or what the runtime shows, changed. */
  serial = 0;

  constructor(private readonly log: (line: string) => void = () => {}) {}

  record(pod: string, type: PodEvent['type'], reason: string, message: string): void {
    this.serial++;
    const now = new Date().toISOString();
    const events = this.byPod.get(pod) ?? [];
    const same = events.find((event) => event.reason === reason && event.message === message);
    if (same) {
      same.count++;
      same.lastTimestamp = now;
      // (moved to the end: the list stays in the order of the last time each happened)
      events.splice(events.indexOf(same), 1);
      events.push(same);
    } else {
      events.push({ type, reason, message, count: 1, firstTimestamp: now, lastTimestamp: now });
      if (events.length > KEEP) events.shift();
    }
    this.byPod.set(pod, events);
    this.log(`${pod}: ${type} ${reason}: ${message}`);
  }

  of(pod: string): PodEvent[] {
    return this.byPod.get(pod) ?? [];
  }

  /** Events read back from a status file (after a restart of the agent: describe keeps its history). */
  restore(pod: string, events: PodEvent[]): void {
    if (!this.byPod.has(pod)) this.byPod.set(pod, events.slice(-KEEP));
  }

  forget(pod: string): void {
    this.byPod.delete(pod);
  }
}
