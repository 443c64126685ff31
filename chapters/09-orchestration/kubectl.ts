/**
 * `conman-agent get pods` and `conman-agent describe pod`: kubectl's two most used views,
 * printed from the status files the running agent writes (<state>/status/*.status.yaml).
 * Reading files, not asking the agent, means they work while the agent is down (they say
 * so, from <state>/agent.yaml) and never slow it down.
 *
 * How real kubectl differs: it asks the API server, which has what every kubelet reported;
 * its columns and its describe layout are the ones copied here (AGE as "2m30s", RESTARTS
 * summed over the app containers, STATUS from printPod).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { agentFileOf, STATUS_SUFFIX, statusDirOf, type AgentFile } from './agent.ts';
import type { Probe } from './manifest.ts';
import { DISPLAY_ANNOTATION, MANIFEST_ANNOTATION, readyColumn, restartsOf, type ContainerState, type ContainerStatus, type PodDocument } from './pod-status.ts';

/** Every status file, sorted by namespace and name. */
export function readStatuses(stateDir: string): PodDocument[] {
  const dir = statusDirOf(stateDir);
  if (!fs.existsSync(dir)) return [];
  const documents: PodDocument[] = [];
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith(STATUS_SUFFIX))) {
    try {
      documents.push(parse(fs.readFileSync(path.join(dir, name), 'utf8')) as PodDocument);
    } catch {
      // being replaced right now (written atomically: the next read sees it whole)
    }
  }
  return documents.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
}

/** A warning when the agent is not running, or cannot reach its runtime: the statuses may be old. */
export function agentWarning(stateDir: string): string | undefined {
  let agent: AgentFile;
  try {
    agent = parse(fs.readFileSync(agentFileOf(stateDir), 'utf8')) as AgentFile;
  } catch {
    return `no agent has run with --state ${stateDir}`;
  }
  try {
    process.kill(agent.pid, 0);
  } catch {
    return `the agent (pid ${agent.pid}) is not running: what follows is the last status it wrote`;
  }
  if (!agent.runtime.reachable) return `the agent cannot reach its CRI endpoint ${agent.runtimeEndpoint} since ${agent.runtime.since} (${agent.runtime.error}); next try at ${agent.runtime.nextRetry}`;
  return undefined;
}

/** kubectl's AGE: 45s, 2m30s, 15m, 3h20m, 5d. */
export function age(since: string | undefined, now = Date.now()): string {
  if (!since) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  if (s < 120) return `${s}s`;
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (h < 3) return `${m}m`;
  if (h < 8) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i] + 3) : cell)).join('').trimEnd()).join('\n') + '\n';
}

/** The object kubectl prints for -o yaml / -o json: the Pod, without the events. */
function asPod(document: PodDocument): object {
  const { events: _events, ...pod } = document;
  return pod;
}

export function getPods(documents: PodDocument[], output: string | undefined): string {
  if (output === 'yaml' || output === 'json') {
    const list = { apiVersion: 'v1', kind: 'List', items: documents.map(asPod) };
    return output === 'json' ? JSON.stringify(list, null, 2) + '\n' : stringify(list, { lineWidth: 0 });
  }
  const wide = output === 'wide';
  const header = ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', ...(wide ? ['IP', 'NODE'] : [])];
  if (documents.length === 0) return 'No resources found.\n';
  const rows = documents.map((d) => [
    d.metadata.name,
    readyColumn(d.status),
    d.metadata.annotations?.[DISPLAY_ANNOTATION] ?? d.status.phase,
    String(restartsOf(d.status)),
    age(d.metadata.creationTimestamp ?? d.status.startTime),
    ...(wide ? [d.status.podIP ?? '<none>', os.hostname()] : []),
  ]);
  return table([header, ...rows]);
}

function stateLines(label: string, state: ContainerState | undefined, indent: string): string[] {
  if (!state) return [];
  if (state.running) return [`${indent}${label}:\tRunning`, `${indent}  Started:\t${state.running.startedAt}`];
  if (state.waiting) return [`${indent}${label}:\tWaiting`, `${indent}  Reason:\t${state.waiting.reason}`, ...(state.waiting.message ? [`${indent}  Message:\t${state.waiting.message}`] : [])];
  const t = state.terminated!;
  return [`${indent}${label}:\tTerminated`, `${indent}  Reason:\t${t.reason}`, `${indent}  Exit Code:\t${t.exitCode}`, `${indent}  Started:\t${t.startedAt}`, `${indent}  Finished:\t${t.finishedAt}`];
}

function probeLine(probe: Probe): string {
  const how = probe.exec ? `exec [${probe.exec.command.join(' ')}]` : probe.httpGet ? `http-get http://:${probe.httpGet.port}${probe.httpGet.path ?? '/'}` : `tcp-socket :${probe.tcpSocket!.port}`;
  return `${how} delay=${probe.initialDelaySeconds ?? 0}s timeout=${probe.timeoutSeconds ?? 1}s period=${probe.periodSeconds ?? 10}s #success=${probe.successThreshold ?? 1} #failure=${probe.failureThreshold ?? 3}`;
}

/** Columns separated by tabs, aligned at the end (kubectl's describe uses a tabwriter too). */
function aligned(lines: string[]): string {
  const width = Math.max(...lines.filter((l) => l.includes('\t')).map((l) => l.indexOf('\t')));
  return lines.map((l) => (l.includes('\t') ? l.slice(0, l.indexOf('\t') + 1).replace('\t', ' '.repeat(width - l.indexOf('\t') + 2)) + l.slice(l.indexOf('\t') + 1) : l)).join('\n') + '\n';
}

export function describePod(d: PodDocument, now = Date.now()): string {
  const lines: string[] = [
    `Name:\t${d.metadata.name}`,
    `Namespace:\t${d.metadata.namespace}`,
    `Node:\t${os.hostname()}/${d.status.hostIP ?? ''}`,
    `Start Time:\t${d.status.startTime ?? '<none>'}`,
    `Labels:\t${Object.entries(d.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '<none>'}`,
    `Manifest:\t${d.metadata.annotations?.[MANIFEST_ANNOTATION] ?? ''}`,
    `Status:\t${d.metadata.annotations?.[DISPLAY_ANNOTATION] ?? d.status.phase}`,
  ];
  if (d.status.reason) lines.push(`Reason:\t${d.status.reason}`);
  if (d.status.message) lines.push(`Message:\t${d.status.message}`);
  if (d.metadata.uid) lines.push(`UID:\t${d.metadata.uid}`);
  lines.push(`IP:\t${d.status.podIP ?? ''}`);
  const container = (status: ContainerStatus, spec: NonNullable<PodDocument['spec']>['containers'][number] | undefined) => {
    lines.push(`  ${status.name}:`);
    lines.push(`    Container ID:\t${status.containerID}`, `    Image:\t${status.image}`, `    Image ID:\t${status.imageID}`);
    for (const port of spec?.ports ?? []) lines.push(`    Port:\t${port.containerPort}/${port.protocol ?? 'TCP'}`, `    Host Port:\t${port.hostPort ?? 0}/${port.protocol ?? 'TCP'}`);
    if (spec?.command) lines.push(`    Command:`, ...spec.command.map((c) => `      ${c}`));
    if (spec?.args) lines.push(`    Args:`, ...spec.args.map((c) => `      ${c}`));
    lines.push(...stateLines('State', status.state, '    '));
    if (status.lastState) lines.push(...stateLines('Last State', status.lastState, '    '));
    lines.push(`    Ready:\t${status.ready ? 'True' : 'False'}`, `    Restart Count:\t${status.restartCount}`);
    const limits = spec?.resources?.limits;
    if (limits) lines.push('    Limits:', ...Object.entries(limits).map(([k, v]) => `      ${k}:\t${v}`));
    if (spec?.livenessProbe) lines.push(`    Liveness:\t${probeLine(spec.livenessProbe)}`);
    if (spec?.readinessProbe) lines.push(`    Readiness:\t${probeLine(spec.readinessProbe)}`);
    lines.push(`    Environment:${spec?.env?.length ? '' : '\t<none>'}`, ...(spec?.env ?? []).map((e) => `      ${e.name}:\t${e.value ?? ''}`));
    lines.push(`    Mounts:${spec?.volumeMounts?.length ? '' : '\t<none>'}`, ...(spec?.volumeMounts ?? []).map((m) => `      ${m.mountPath} from ${m.name} (${m.readOnly ? 'ro' : 'rw'})`));
  };
  if (d.status.initContainerStatuses.length > 0) {
    lines.push('Init Containers:');
    for (const status of d.status.initContainerStatuses) container(status, d.spec?.initContainers?.find((c) => c.name === status.name));
  }
  if (d.status.containerStatuses.length > 0) {
    lines.push('Containers:');
    for (const status of d.status.containerStatuses) container(status, d.spec?.containers.find((c) => c.name === status.name));
  }
  if (d.status.conditions.length > 0) lines.push('Conditions:', '  Type\tStatus', ...d.status.conditions.map((c) => `  ${c.type}\t${c.status}`));
  if (d.spec?.volumes?.length) {
    lines.push('Volumes:');
    for (const v of d.spec.volumes) lines.push(`  ${v.name}:`, v.hostPath ? `    Type:\tHostPath (bare host directory volume)\n    Path:\t${v.hostPath.path}` : `    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)`);
  }
  let text = aligned(lines);
  if (d.events.length === 0) return `${text}Events:  <none>\n`;
  const rows = [['Type', 'Reason', 'Age', 'From', 'Message'], ['----', '------', '----', '----', '-------']];
  for (const e of d.events) {
    const when = e.count > 1 ? `${age(e.lastTimestamp, now)} (x${e.count} over ${age(e.firstTimestamp, now)})` : age(e.lastTimestamp, now);
    rows.push([e.type, e.reason, when, 'conman-agent', e.message]);
  }
  text += `Events:\n${table(rows).replace(/^/gm, '  ')}`;
  return text;
}
